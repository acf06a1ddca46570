//! A page-size cap an emulator may apply, as real servers do: whatever page size a client
//! asks for, the server answers at most this many records and says so only through the
//! page itself (and its totals). Clients must page by what came back, not by what they asked.

/// How many records one listing page holds at most, relative to the request or absolute.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PageCap {
    /// No cap beyond the platform's own maximum.
    #[default]
    None,
    /// This fraction of the requested page size (`0.25`: a quarter), at least one record.
    Fraction(f64),
    /// At most this many records, whatever was asked (at least one).
    Count(usize),
}

impl PageCap {
    /// A quarter of the request: the cap the acceptance tests use.
    pub const QUARTER: PageCap = PageCap::Fraction(0.25);

    /// The page size the server actually serves when `requested` records were asked for.
    pub fn apply(self, requested: usize) -> usize {
        let capped = match self {
            PageCap::None => requested,
            PageCap::Fraction(f) if f.is_finite() && f > 0.0 => {
                // Float to usize saturates; the product is no larger than `requested`.
                ((requested as f64) * f.min(1.0)).floor() as usize
            }
            PageCap::Fraction(_) => 1,
            PageCap::Count(n) => requested.min(n),
        };
        capped.clamp(1, requested.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::PageCap;

    #[test]
    fn a_cap_never_grows_a_page_and_never_empties_one() {
        assert_eq!(PageCap::None.apply(100), 100);
        assert_eq!(PageCap::QUARTER.apply(100), 25);
        assert_eq!(PageCap::QUARTER.apply(30), 7);
        assert_eq!(PageCap::QUARTER.apply(3), 1);
        assert_eq!(PageCap::Fraction(2.0).apply(10), 10);
        assert_eq!(PageCap::Fraction(f64::NAN).apply(10), 1);
        assert_eq!(PageCap::Count(7).apply(100), 7);
        assert_eq!(PageCap::Count(0).apply(100), 1);
        assert_eq!(PageCap::Count(500).apply(100), 100);
    }
}
