//! Which blocks of days (`usage_blocks`) sum to a range of days.
//!
//! Blocks are aligned: a block of `s` days starts on a multiple of `s`, and each size divides
//! the next, so the blocks form a tree (a 64-day block holds four of 16 days, each four of 4,
//! each four single days). A range is the sum of some blocks **minus** others: 27 days are a
//! 16-day block, less one day, plus three 4-day blocks… or two 16-day blocks less one 4-day
//! block and one day. Allowing a block to be subtracted means a range never needs more than two
//! blocks of a size at either end (three added of one size are one of the next size less one),
//! so a 61-day range needs at most 9 blocks and 6.3 on average, where adding only needed up to
//! 13 (8.9 on average). Every report sums blocks per group, so that is the number of rows it
//! reads per user or per (pipeline, model).

/// The block sizes, in days, smallest first; each divides the next.
pub const SPANS: [i64; 4] = [1, 4, 16, 64];
/// The largest block (the last of [`SPANS`]): a range is covered one of these at a time.
const TOP_SPAN: i64 = 64;

/// Blocks of `span_days` starting at days `from..to` (each start a multiple of `span_days`),
/// each counted `weight` times (`1`, or `-1` to subtract it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlockRun {
    /// Block size in days.
    pub span_days: i64,
    /// `1` to add the blocks' sums, `-1` to subtract them.
    pub weight: i64,
    /// First block's first day.
    pub from: i64,
    /// End (exclusive) of the last block.
    pub to: i64,
}

/// The first day of the block of `span` days that holds `day`.
pub(crate) fn round_down(day: i64, span: i64) -> i64 {
    day - day.rem_euclid(span)
}

/// The fewest blocks whose weighted sum is days `from..to` (each day of the range counted
/// once, every other day not at all), merged into runs of adjacent blocks of one size and
/// weight.
pub fn cover(from: i64, to: i64) -> Vec<BlockRun> {
    let range = Range { from, to };
    let top = SPANS.len() - 1;
    let top_span = TOP_SPAN;
    let mut blocks = Vec::new();
    if from < to {
        let mut start = round_down(from, top_span);
        while start < to {
            // A top-level block has nothing above it: it starts from zero, and zero added
            // everywhere (no block) is always a cover, so there is always a best one.
            if let Some(best) = range.best(top, start, 0) {
                blocks.extend(best);
            }
            start += top_span;
        }
    }
    runs(blocks)
}

#[derive(Debug, Clone, Copy)]
struct Range {
    from: i64,
    to: i64,
}

impl Range {
    /// The fewest blocks for the block of `SPANS[level]` days at `start`, given that the blocks
    /// above it already count its days `inherited` times: every day of the range must end up
    /// counted once, every other day zero times. `None` when no blocks can do that (only a
    /// single day that would need a weight of ±2).
    fn best(self, level: usize, start: i64, inherited: i64) -> Option<Vec<BlockRun>> {
        let span = *SPANS.get(level)?;
        let end = start + span;
        let inside = self.from <= start && end <= self.to;
        let outside = end <= self.from || self.to <= start;
        if inside || outside {
            let need = i64::from(inside) - inherited;
            if need == 0 {
                return Some(Vec::new());
            }
            if need.abs() == 1 {
                return Some(vec![BlockRun {
                    span_days: span,
                    weight: need,
                    from: start,
                    to: end,
                }]);
            }
            if level == 0 {
                return None;
            }
        }
        // Partly in the range (at most two blocks of each size are: those holding its ends),
        // or needing more than one step: try this block not counted, added and subtracted.
        // Each weight in {-1, 0, 1} suffices; an exhaustive search up to ±2 finds the same
        // minimum for every range the tests try (`cover_uses_the_fewest_blocks`).
        let child = *SPANS.get(level.checked_sub(1)?)?;
        let mut best: Option<Vec<BlockRun>> = None;
        for weight in [0, 1, -1] {
            let mut plan = Vec::new();
            if weight != 0 {
                plan.push(BlockRun {
                    span_days: span,
                    weight,
                    from: start,
                    to: end,
                });
            }
            let mut feasible = true;
            let mut at = start;
            while at < end {
                match self.best(level - 1, at, inherited + weight) {
                    Some(sub) => plan.extend(sub),
                    None => feasible = false,
                }
                at += child;
            }
            if feasible && best.as_ref().is_none_or(|b| plan.len() < b.len()) {
                best = Some(plan);
            }
        }
        best
    }
}

/// `blocks` (one block each) merged into runs: adjacent blocks of one size and weight.
fn runs(mut blocks: Vec<BlockRun>) -> Vec<BlockRun> {
    blocks.sort_unstable();
    let mut runs: Vec<BlockRun> = Vec::with_capacity(blocks.len());
    for block in blocks {
        match runs.last_mut() {
            Some(last)
                if last.span_days == block.span_days
                    && last.weight == block.weight
                    && last.to == block.from =>
            {
                last.to = block.to;
            }
            _ => runs.push(block),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many times `runs` count `day`; asserts every run is aligned and non-empty.
    fn count(runs: &[BlockRun], day: i64) -> i64 {
        runs.iter()
            .map(|r| {
                assert_eq!(r.from.rem_euclid(r.span_days), 0, "{r:?} unaligned");
                assert_eq!(r.to.rem_euclid(r.span_days), 0, "{r:?} unaligned");
                assert!(r.from < r.to, "{r:?} empty");
                assert!(r.weight == 1 || r.weight == -1, "{r:?}");
                if r.from <= day && day < r.to {
                    r.weight
                } else {
                    0
                }
            })
            .sum()
    }

    fn blocks(runs: &[BlockRun]) -> i64 {
        runs.iter().map(|r| (r.to - r.from) / r.span_days).sum()
    }

    /// The fewest blocks by exhaustive search over every weight in {-2..2} of every block
    /// in the range's 64-day blocks (small ranges only): what `cover` must match.
    fn fewest(from: i64, to: i64) -> i64 {
        fn search(from: i64, to: i64, level: usize, start: i64, inherited: i64) -> Option<i64> {
            let span = SPANS[level];
            let mut best = None;
            for weight in -2i64..=2 {
                let here = inherited + weight;
                let cost = if level == 0 {
                    let want = i64::from(from <= start && start < to);
                    (here == want).then_some(weight.abs())
                } else {
                    let child = SPANS[level - 1];
                    (0..span / child)
                        .map(|i| search(from, to, level - 1, start + i * child, here))
                        .sum::<Option<i64>>()
                        .map(|c| c + weight.abs())
                };
                if let Some(cost) = cost {
                    best = Some(best.map_or(cost, |b: i64| b.min(cost)));
                }
            }
            best
        }
        let mut start = round_down(from, 64);
        let mut total = 0;
        while start < to {
            total += search(from, to, 3, start, 0).unwrap_or(i64::MAX / 4);
            start += 64;
        }
        total
    }

    #[test]
    fn cover_counts_every_day_of_the_range_once_and_no_other_day() {
        for from in -70..140 {
            for len in 1..300 {
                let to = from + len;
                let runs = cover(from, to);
                for day in from - 70..to + 70 {
                    let want = i64::from(from <= day && day < to);
                    assert_eq!(count(&runs, day), want, "{from}..{to} day {day}: {runs:?}");
                }
                // At most two blocks of each smaller size at either end, and rarely that.
                assert!(blocks(&runs) <= 10 + len / 64, "{from}+{len}: {runs:?}");
            }
        }
        assert!(cover(5, 5).is_empty());
        assert!(cover(9, 3).is_empty());
    }

    #[test]
    fn cover_uses_the_fewest_blocks() {
        for from in (-70..70).step_by(3) {
            for len in (1..130).step_by(5) {
                let runs = cover(from, from + len);
                assert_eq!(
                    blocks(&runs),
                    fewest(from, from + len),
                    "{from}+{len}: {runs:?}"
                );
            }
        }
    }

    #[test]
    fn aligned_ranges_are_whole_blocks_and_long_ranges_one_run() {
        let block = |span_days, weight, from, to| BlockRun {
            span_days,
            weight,
            from,
            to,
        };
        assert_eq!(cover(64, 128), [block(64, 1, 64, 128)]);
        assert_eq!(cover(0, 64 * 1000), [block(64, 1, 0, 64 * 1000)]);
        // Three single days are a 4-day block less one.
        assert_eq!(cover(4, 7), [block(1, -1, 7, 8), block(4, 1, 4, 8)]);
        // 2026-09-25..2026-11-25: 13 blocks added only, 6 with subtraction.
        assert_eq!(blocks(&cover(20_721, 20_782)), 6);
    }
}
