//! `OpFuture` is awaited under several executors with no runtime support
//! from the core: plain wakers, std `Mutex`, `Arc`.

use gazette_core::append::*;

/// Awaits three futures of a set while another task resolves them in
/// reverse order; every waiter sees its own result.
async fn await_resolved_by_other_task<F>(
    spawn: impl Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> F,
) where
    F: Future<Output = ()>,
{
    let ops: Vec<AsyncOperation> = (0..3).map(|_| AsyncOperation::new()).collect();
    let futures: OpFutures = ops.iter().map(AsyncOperation::future).collect();
    assert!(futures.outcome().is_none());
    let resolver = {
        let ops = ops.clone();
        spawn(Box::pin(async move {
            for (i, op) in ops.iter().enumerate().rev() {
                let result = if i == 1 {
                    Err(AppendError::Rejected("one failed".into()))
                } else {
                    Ok(())
                };
                op.resolve(result).unwrap();
            }
        }))
    };
    let mut results = Vec::new();
    for f in futures.iter() {
        results.push(f.clone().await);
    }
    resolver.await;
    assert_eq!(
        results,
        vec![
            Ok(()),
            Err(AppendError::Rejected("one failed".into())),
            Ok(())
        ]
    );
    assert_eq!(
        futures.outcome(),
        Some(Err(AppendError::Rejected("one failed".into())))
    );
    assert_eq!(ops[0].resolve(Ok(())), Err(AlreadyResolved));
    assert_eq!(finished_operation(Ok(())).await, Ok(()));
}

#[tokio::test(flavor = "current_thread")]
async fn op_future_awaits_under_tokio() {
    await_resolved_by_other_task(|fut| {
        // Spawn now; the returned future only joins.
        let handle = tokio::spawn(fut);
        async move { handle.await.unwrap() }
    })
    .await;
}

#[test]
fn op_future_awaits_under_tokio_with_a_thread_resolving() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let op = AsyncOperation::new();
    let fut = op.future();
    let resolver = std::thread::spawn(move || op.resolve(Ok(())).unwrap());
    assert_eq!(rt.block_on(fut), Ok(()));
    resolver.join().unwrap();
}

#[test]
fn op_future_awaits_under_smol() {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(await_resolved_by_other_task(|fut| ex.spawn(fut))));
}

#[test]
fn op_future_awaits_under_async_std() {
    async_std::task::block_on(await_resolved_by_other_task(|fut| {
        async_std::task::spawn(fut)
    }));
}

#[test]
fn op_future_wakes_a_waiter_registered_before_resolution() {
    // Poll once (registering the waker), resolve from another thread, and
    // check the waker fired and the next poll is ready.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let op = AsyncOperation::new();
    let mut fut = op.future();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(std::pin::Pin::new(&mut fut).poll(&mut cx), Poll::Pending);
    assert_eq!(std::pin::Pin::new(&mut fut).poll(&mut cx), Poll::Pending);
    std::thread::spawn(move || op.resolve(Ok(())).unwrap())
        .join()
        .unwrap();
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "woken once, waker deduplicated"
    );
    assert_eq!(
        std::pin::Pin::new(&mut fut).poll(&mut cx),
        Poll::Ready(Ok(()))
    );
}
