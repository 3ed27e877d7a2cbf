//! The simulated brokers' answers, RPC by RPC, without a client.

#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use gazette_proto::{
    Header, JournalSpec, ListRequest, ListResponse, ReadRequest, ReadResponse, Status,
};

use super::*;
use crate::client::{Call, OpId, RpcEnd, RpcId, RpcMessage};

fn cluster() -> SimCluster {
    let mut cluster = SimCluster::new(ClusterConfig::default(), Instant::now());
    cluster.create_journal(JournalSpec::new("a/j").with_replication(1));
    cluster
}

fn replies(cluster: &mut SimCluster) -> Vec<Reply> {
    std::iter::from_fn(|| cluster.poll_reply()).collect()
}

fn open(cluster: &mut SimCluster, rpc: u64, broker: usize, call: Call) -> Vec<Reply> {
    let now = cluster.now;
    cluster.handle(
        now,
        ToCluster::Open {
            rpc: RpcId(rpc),
            op: OpId(rpc),
            broker,
            call,
        },
    );
    replies(cluster)
}

fn read_frames(replies: &[Reply]) -> Vec<&ReadResponse> {
    replies
        .iter()
        .filter_map(|r| match r {
            Reply::Message(_, RpcMessage::Read(frame)) => Some(frame),
            _ => None,
        })
        .collect()
}

#[test]
fn a_read_at_a_non_member_is_refused_under_do_not_proxy_and_proxied_otherwise() {
    let mut cluster = cluster();
    let member = cluster.journal("a/j").unwrap().assignment[0];
    let other = (member + 1) % 3;
    let request = ReadRequest::new("a/j").blocking(false);
    let refused = open(
        &mut cluster,
        1,
        other,
        Call::Read(request.clone().do_not_proxy(true)),
    );
    let frames = read_frames(&refused);
    assert_eq!(frames.len(), 1, "{refused:?}");
    assert_eq!(frames[0].status, Status::NotJournalBroker as i32);
    let header = frames[0].header.as_ref().expect("first frame has a header");
    assert_eq!(header.process_id, Some(cluster.brokers()[other].id.clone()));
    assert_eq!(header.route.as_ref(), Some(&cluster.route_of("a/j")));
    assert_eq!(refused.last(), Some(&Reply::End(RpcId(1), RpcEnd::Ok)));

    let proxied = open(&mut cluster, 2, other, Call::Read(request));
    let frames = read_frames(&proxied);
    assert_eq!(frames[0].status, Status::OffsetNotYetAvailable as i32);
    // The serving member's header, relayed by the proxy.
    let header = frames[0].header.as_ref().expect("header");
    assert_eq!(
        header.process_id,
        Some(cluster.brokers()[member].id.clone())
    );
}

#[test]
fn a_resumed_watch_waits_for_a_newer_revision() {
    let mut cluster = cluster();
    let revision = cluster.revision();
    let resume = Header {
        etcd: Some(gazette_proto::header::Etcd {
            cluster_id: CLUSTER_ID,
            member_id: 1,
            revision,
            raft_term: 1,
        }),
        ..Default::default()
    };
    let request = ListRequest {
        watch: true,
        watch_resume: Some(resume),
        ..Default::default()
    };
    let first = open(&mut cluster, 1, 0, Call::List(request));
    assert_eq!(first, [Reply::Opened(RpcId(1))]);
    cluster.create_journal(JournalSpec::new("a/k"));
    cluster.pump();
    let replies = replies(&mut cluster);
    let snapshot: Vec<&ListResponse> = replies
        .iter()
        .filter_map(|r| match r {
            Reply::Message(_, RpcMessage::List(l)) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(snapshot.len(), 2, "a snapshot, then its end marker");
    assert_eq!(snapshot[0].journals.len(), 2);
    let header = snapshot[0].header.as_ref().expect("header");
    assert!(header.etcd.as_ref().unwrap().revision > revision);
    assert_eq!(snapshot[1], &ListResponse::default());
}

#[test]
fn an_append_after_its_preamble_is_refused_at_once_when_the_journal_is_missing() {
    let mut cluster = cluster();
    let opened = open(
        &mut cluster,
        1,
        0,
        Call::Append {
            journal: "a/missing".into(),
        },
    );
    assert!(opened.is_empty());
    let now = cluster.now;
    cluster.handle(
        now,
        ToCluster::Send {
            rpc: RpcId(1),
            message: gazette_proto::AppendRequest::new("a/missing"),
        },
    );
    let replies = replies(&mut cluster);
    match &replies[..] {
        [
            Reply::Message(_, RpcMessage::Append(response)),
            Reply::End(_, RpcEnd::Ok),
        ] => {
            assert_eq!(response.status, Status::JournalNotFound as i32)
        }
        other => panic!("{other:?}"),
    }
}
