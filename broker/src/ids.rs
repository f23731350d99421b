//! Identifier newtypes shared by every layer: a broker's id, a partition leader's epoch and
//! a log offset. The bottom layer: depends on nothing else in the crate. The wire and the
//! znodes carry plain integers; these wrap them where values of different meaning meet
//! (the controller's planner, replication) so that one is not passed for another.

use std::fmt;

macro_rules! newtype {
    ($(#[$m:meta])* $name:ident($t:ty)) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $t);

        impl $name {
            pub const fn get(self) -> $t {
                self.0
            }
        }

        impl From<$t> for $name {
            fn from(v: $t) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $t {
            fn from(v: $name) -> $t {
                v.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

newtype!(
    /// `broker.id`; -1 in a partition state means "no leader".
    BrokerId(i32)
);
newtype!(
    /// A partition leader's epoch, bumped on every leader or ISR change.
    LeaderEpoch(i32)
);
newtype!(
    /// A record offset in a partition log.
    Offset(i64)
);

impl BrokerId {
    /// A partition without a leader.
    pub const NONE: BrokerId = BrokerId(-1);

    pub const fn is_some(self) -> bool {
        self.0 >= 0
    }

    /// Wraps a list of plain ids (a znode's, a request's).
    pub fn wrap_all(raw: &[i32]) -> Vec<BrokerId> {
        raw.iter().copied().map(BrokerId).collect()
    }

    /// The plain ids of a list, for a znode or a response.
    pub fn raw_all(ids: &[BrokerId]) -> Vec<i32> {
        ids.iter().map(|b| b.0).collect()
    }
}

impl LeaderEpoch {
    /// The epoch after a leader or ISR change.
    pub const fn next(self) -> LeaderEpoch {
        LeaderEpoch(self.0 + 1)
    }
}

impl Offset {
    pub const fn next(self) -> Offset {
        Offset(self.0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newtypes_round_trip() {
        assert_eq!(i32::from(BrokerId(3)), 3);
        assert!(!BrokerId::NONE.is_some());
        assert_eq!(LeaderEpoch(4).next(), LeaderEpoch(5));
        assert_eq!(Offset(9).next().get(), 10);
        assert_eq!(format!("{:?}", BrokerId(2)), "2");
        assert_eq!(format!("{:?}", BrokerId::wrap_all(&[1, 2])), format!("{:?}", [1, 2]), "logs show lists as before");
        assert_eq!(BrokerId::raw_all(&BrokerId::wrap_all(&[3, 1])), vec![3, 1]);
    }
}
