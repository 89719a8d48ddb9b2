//! Running many tasks with bounded concurrency and bounded memory, results in order.
//!
//! [`crate::pipeline::run_all`] checks thousands of targets in one run. Spawning them all at
//! once would hold every pipeline's future at the same time, and collecting every result before
//! writing any would hold every report: memory would grow with the number of targets. Here tasks
//! are spawned only as earlier ones finish, and each result is handed on as soon as it and every
//! earlier one are done; a result that finishes ahead of a slower earlier one waits, and new
//! tasks stop being admitted once `window` results are ahead, so the waiting results are bounded
//! too. (`futures::StreamExt::buffered` does much the same, but stops admitting as soon as
//! `concurrency` results wait, so one slow target would stall the run; here the window can be
//! wider than the concurrency, and the futures crate is not a direct dependency.)

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::ops::ControlFlow;

/// Runs `task` on each item, at most `concurrency` at a time and never more than `window` items
/// past the earliest one whose result is not out yet, and hands the results to `emit` in the
/// items' order. `emit` returning [`ControlFlow::Break`] stops: nothing more is started and the
/// running tasks are cancelled. A task that panicked has no result: `emit` skips its index.
pub(crate) async fn in_order<I, T, F, Fut, E>(
    items: Vec<I>,
    concurrency: usize,
    window: usize,
    mut task: F,
    mut emit: E,
) where
    F: FnMut(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    E: FnMut(usize, T) -> ControlFlow<()>,
{
    let concurrency = concurrency.max(1);
    let window = window.max(concurrency);
    let mut waiting = items.into_iter().enumerate().peekable();
    let mut running = tokio::task::JoinSet::new();
    // The index of each running task, to place a task that panicked (a join error has no value).
    let mut index_of: HashMap<tokio::task::Id, usize> = HashMap::new();
    // Results that finished ahead of an earlier item, by index; `None` for a panicked task.
    let mut ready: BTreeMap<usize, Option<T>> = BTreeMap::new();
    let mut next = 0;
    loop {
        while running.len() < concurrency
            && let Some((index, item)) = waiting.next_if(|(index, _)| *index < next + window)
        {
            let spawned = running.spawn(task(item));
            index_of.insert(spawned.id(), index);
        }
        let Some(joined) = running.join_next_with_id().await else {
            return;
        };
        let (id, result) = match joined {
            Ok((id, result)) => (id, Some(result)),
            Err(error) => (error.id(), None),
        };
        if let Some(index) = index_of.remove(&id) {
            ready.insert(index, result);
        }
        while let Some(result) = ready.remove(&next) {
            if let Some(result) = result
                && emit(next, result).is_break()
            {
                // Dropping the set cancels the tasks still running.
                return;
            }
            next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Tasks of uneven length, one of them much slower: results still come in order, with
    /// at most `concurrency` running and none started past the window.
    #[test]
    fn results_come_in_order_within_the_limits() {
        let (concurrency, window, count) = (4, 16, 300);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let next = Arc::new(AtomicUsize::new(0));
        let ahead = Arc::new(Mutex::new(Vec::new()));
        let mut seen = Vec::new();
        let task = |index: usize| {
            let (running, most, next, ahead) =
                (running.clone(), most.clone(), next.clone(), ahead.clone());
            // Started here, when the scheduler admits it.
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            ahead
                .lock()
                .unwrap()
                .push(index - next.load(Ordering::SeqCst));
            async move {
                let millis = if index == 5 {
                    300
                } else {
                    (index * 7 % 4) as u64
                };
                tokio::time::sleep(Duration::from_millis(millis)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                index * 10
            }
        };
        runtime().block_on(in_order(
            (0..count).collect(),
            concurrency,
            window,
            task,
            |index, result| {
                assert_eq!(result, index * 10);
                seen.push(index);
                next.store(index + 1, Ordering::SeqCst);
                ControlFlow::Continue(())
            },
        ));
        assert_eq!(seen, (0..count).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= concurrency);
        let ahead = ahead.lock().unwrap();
        assert!(ahead.iter().all(|a| *a < window), "{ahead:?}");
        // The slow task held the others back: the window was reached.
        assert_eq!(ahead.iter().max(), Some(&(window - 1)));
    }

    #[test]
    fn a_panicked_task_is_left_out_and_a_break_stops_the_run() {
        let mut seen = Vec::new();
        runtime().block_on(in_order(
            (0..20).collect(),
            3,
            6,
            |index: usize| async move {
                if index == 7 {
                    panic!("task 7 fails on purpose");
                }
                index
            },
            |index, result| {
                assert_eq!(index, result);
                seen.push(index);
                ControlFlow::Continue(())
            },
        ));
        assert_eq!(seen, (0..20).filter(|i| *i != 7).collect::<Vec<_>>());

        let started = Arc::new(AtomicUsize::new(0));
        let mut seen = Vec::new();
        runtime().block_on(in_order(
            (0..1000).collect(),
            4,
            8,
            |index: usize| {
                started.fetch_add(1, Ordering::SeqCst);
                async move { index }
            },
            |index, _| {
                seen.push(index);
                if index == 9 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        ));
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert!(started.load(Ordering::SeqCst) <= 10 + 8);
    }
}
