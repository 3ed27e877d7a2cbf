//! Snapshot transcripts of append scheduling and framing.

mod append_support;

use append_support::model::{DepChoice, Model, Step};
use append_support::*;
use gazette_core::append::*;

fn transcript(steps: &[Step]) -> String {
    let mut model = Model::new();
    model.run(steps);
    model.transcript.join("\n")
}

#[test]
fn transcript_batching_rollback_and_retry() {
    use Step::*;
    let none = DepChoice::None;
    let steps = [
        Start {
            journal: 0,
            variant: 0,
            deps: none,
        },
        Write {
            journal: 0,
            len: 10,
        },
        Release { journal: 0 },
        Poll,
        // Appends arriving while the first batch is in flight join one batch.
        Start {
            journal: 0,
            variant: 0,
            deps: none,
        },
        Write { journal: 0, len: 5 },
        Release { journal: 0 },
        Start {
            journal: 0,
            variant: 0,
            deps: none,
        },
        Write {
            journal: 0,
            len: 20,
        },
        Require { journal: 0 },
        Release { journal: 0 },
        Start {
            journal: 0,
            variant: 0,
            deps: none,
        },
        Write { journal: 0, len: 6 },
        Release { journal: 0 },
        // A different request starts a new batch.
        Start {
            journal: 0,
            variant: 1,
            deps: none,
        },
        Write { journal: 0, len: 3 },
        Release { journal: 0 },
        RpcFail { pick: 0, kind: 0 },
        Poll,
        Tick { ms: 50 },
        Poll,
        RpcOk { pick: 0 },
        Poll,
        RpcOk { pick: 0 },
        Poll,
        RpcFail { pick: 0, kind: 2 },
        Poll,
    ];
    insta::assert_snapshot!(transcript(&steps));
}

#[test]
fn transcript_dependencies_across_journals() {
    use Step::*;
    let steps = [
        Start {
            journal: 0,
            variant: 0,
            deps: DepChoice::External(0),
        },
        Write { journal: 0, len: 4 },
        Release { journal: 0 },
        Start {
            journal: 1,
            variant: 0,
            deps: DepChoice::PendingExcept,
        },
        Write { journal: 1, len: 4 },
        Release { journal: 1 },
        Poll,
        ResolveExternal { which: 0, ok: true },
        Poll,
        Poll,
        RpcOk { pick: 0 },
        Poll,
        RpcOk { pick: 0 },
        Start {
            journal: 2,
            variant: 0,
            deps: DepChoice::External(1),
        },
        Write { journal: 2, len: 1 },
        Release { journal: 2 },
        Start {
            journal: 1,
            variant: 0,
            deps: DepChoice::PendingExcept,
        },
        Release { journal: 1 },
        ResolveExternal {
            which: 1,
            ok: false,
        },
        Poll,
        Poll,
    ];
    insta::assert_snapshot!(transcript(&steps));
}

#[test]
fn transcript_appender_wire_of_committed_append() {
    let mut a = Appender::new(request("a/journal"))
        .unwrap()
        .with_chunk_size(4);
    a.write(bytes("hello, world"));
    a.commit();
    let mut outputs = Vec::new();
    while let Some(out) = a.poll_output() {
        if out == AppenderOutput::ReceiveResponse {
            a.handle(AppenderInput::Response(ok_response("a/journal", 0, 12)));
        }
        outputs.push(match out {
            AppenderOutput::Send(m) if m.journal.is_empty() => {
                format!("Send chunk {:?}", String::from_utf8_lossy(&m.content))
            }
            AppenderOutput::Send(m) => format!("Send preamble journal={}", m.journal),
            AppenderOutput::UpdateRoute { journal, update } => {
                format!(
                    "UpdateRoute {journal} primary={:?}",
                    update.into_route().map(|r| r.primary)
                )
            }
            AppenderOutput::Finished(r) => format!(
                "Finished {:?}",
                r.map(|r| r.commit.map(|c| (c.begin, c.end)))
            ),
            other => format!("{other:?}"),
        });
    }
    insta::assert_snapshot!(outputs.join("\n"));
}
