//! Feeds arbitrary ListResponse sequences (and stream ends and errors) into
//! the snapshot assembler and the watched list: never panics, and every
//! snapshot holds exactly the journals sent since its first message.
#![no_main]

use arbitrary::Arbitrary;
use gazette_core::list::{ListError, SnapshotAssembler, WatchAction, WatchedList};
use gazette_proto::{
    Header, JournalSpec, ListRequest, ListResponse, Route, header::Etcd, journal_spec,
    list_response::Journal, process_spec::Id,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct FuzzJournal {
    name: String,
    valid_name: bool,
    mod_revision: i8,
    members: u8,
    primary: i8,
}

#[derive(Debug, Arbitrary)]
enum Event {
    Message {
        status: u8,
        header: bool,
        revision: i16,
        journals: Vec<FuzzJournal>,
    },
    End,
    Error,
    Timer,
    Opened,
}

#[derive(Debug, Arbitrary)]
struct Input {
    watch: bool,
    resume: Option<i16>,
    events: Vec<Event>,
}

fn header(revision: i64) -> Header {
    Header {
        process_id: Some(Id {
            zone: "a".into(),
            suffix: "broker".into(),
        }),
        route: Some(Route {
            members: vec![],
            primary: -1,
            endpoints: vec![],
        }),
        etcd: Some(Etcd {
            cluster_id: 1,
            member_id: 2,
            revision,
            raft_term: 3,
        }),
    }
}

fn journal(j: &FuzzJournal, index: usize) -> Journal {
    let mut fragment = journal_spec::Fragment {
        length: 1024,
        compression_codec: 1,
        refresh_interval: Some(Default::default()),
        ..Default::default()
    };
    fragment.refresh_interval.as_mut().unwrap().seconds = 1;
    let members: Vec<Id> = (0..j.members % 4)
        .map(|i| Id {
            zone: "z".into(),
            suffix: format!("member-{i}"),
        })
        .collect();
    Journal {
        spec: Some(JournalSpec {
            name: if j.valid_name {
                format!("fuzz/journal-{index}")
            } else {
                j.name.clone()
            },
            replication: 1,
            fragment: Some(fragment),
            ..Default::default()
        }),
        mod_revision: j.mod_revision as i64,
        route: Some(Route {
            endpoints: members
                .iter()
                .map(|m| format!("http://{}", m.suffix))
                .collect(),
            members,
            primary: j.primary as i32,
        }),
        create_revision: 1,
    }
}

fn message(status: u8, with_header: bool, revision: i16, journals: &[FuzzJournal]) -> ListResponse {
    ListResponse {
        status: (status % 18) as i32,
        header: with_header.then(|| header(revision as i64)),
        journals: journals
            .iter()
            .enumerate()
            .map(|(i, j)| journal(j, i))
            .collect(),
    }
}

fuzz_target!(|input: Input| {
    let request = ListRequest {
        selector: None,
        watch: input.watch,
        watch_resume: input.resume.map(|r| header(r as i64)),
    };
    let mut assembler = SnapshotAssembler::new(&request);
    let mut watched = WatchedList::new(&request);
    let mut pending: usize = 0;

    for event in &input.events {
        match event {
            Event::Message {
                status,
                header,
                revision,
                journals,
            } => {
                let msg = message(*status, *header, *revision, journals);
                if !assembler.is_finished() {
                    let count = msg.journals.len();
                    match assembler.on_message(msg.clone()) {
                        Ok(Some(snapshot)) => {
                            assert!(input.watch);
                            assert_eq!(snapshot.journals.len(), pending);
                            pending = 0;
                        }
                        Ok(None) => pending += count,
                        Err(_) => assert!(assembler.is_finished()),
                    }
                }
                watched.on_message(msg);
            }
            Event::End => {
                if !assembler.is_finished() {
                    if let Ok(snapshot) = assembler.on_end() {
                        assert!(!input.watch);
                        assert_eq!(snapshot.journals.len(), pending);
                    }
                    assert!(assembler.is_finished());
                }
                watched.on_end();
            }
            Event::Error => watched.on_error(ListError::Rpc("fuzz".into())),
            Event::Timer => watched.on_timer(),
            Event::Opened => watched.on_opened(),
        }
        while let Some(action) = watched.poll_action() {
            if let WatchAction::Publish(snapshot) = action {
                assert!(snapshot.status == 0);
                assert!(watched.list().is_some());
            }
        }
    }
});
