//! Cursor pagination in id order: stable while rows are added, no offset scans.

use serde::Serialize;

use crate::error::{CoreError, CoreResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Items after this id.
    pub after: Option<i64>,
    pub limit: i64,
}

impl PageRequest {
    /// `cursor` is the `next_cursor` of the previous page; `limit` 1–200 (default 50).
    pub fn parse(cursor: Option<&str>, limit: Option<i64>) -> CoreResult<Self> {
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                CoreError::invalid("cursor", "invalid", "not a cursor returned by this API")
            })?),
        };
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(CoreError::invalid(
                "limit",
                "range",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(Self { after, limit })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts a fetch of `request.fetch()` rows (ordered by id) into a page.
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest, id_of: impl Fn(&T) -> i64) -> Self {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| id_of(r).to_string())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with its items replaced as a whole (enriched in one batch query).
    pub fn try_map_items<U, E>(
        self,
        f: impl FnOnce(Vec<T>) -> Result<Vec<U>, E>,
    ) -> Result<Page<U>, E> {
        Ok(Page {
            items: f(self.items)?,
            next_cursor: self.next_cursor,
        })
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Where a page of a list starts: after a cursor (the next page; `None`, the first) or
/// before one (the previous page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Towards {
    Next(Option<i64>),
    Previous(i64),
}

impl Towards {
    /// From a page's query: `before` (back to the previous page) or else `cursor`.
    pub fn parse(cursor: Option<&str>, before: Option<&str>) -> CoreResult<Self> {
        match before.filter(|b| !b.is_empty()) {
            Some(before) => before.parse().map(Towards::Previous).map_err(|_| {
                CoreError::invalid("before", "invalid", "not a cursor this page made")
            }),
            None => Ok(Towards::Next(PageRequest::parse(cursor, None)?.after)),
        }
    }

    /// The cursor the walk starts from, and whether it walks back.
    pub fn start(self) -> (Option<i64>, bool) {
        match self {
            Towards::Next(cursor) => (cursor, false),
            Towards::Previous(cursor) => (Some(cursor), true),
        }
    }
}

/// A page of a list that can be walked both ways: the cursor of the page after it and of
/// the page before it (each the id to pass as `Towards`), when there is one.
#[derive(Debug, Clone)]
pub struct Window<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
    pub previous: Option<i64>,
}

impl<T> Window<T> {
    /// Cuts the rows read from the cursor outward (up to `limit + 1`, the one past the
    /// page telling whether the list goes on that way) into a page in the list's order.
    pub fn from_rows(
        mut rows: Vec<T>,
        towards: Towards,
        limit: i64,
        id_of: impl Fn(&T) -> i64,
    ) -> Self {
        let (cursor, backward) = towards.start();
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        if backward {
            rows.reverse();
        }
        let (first, last) = (rows.first().map(&id_of), rows.last().map(&id_of));
        let (next, previous) = if backward {
            (last, first.filter(|_| more))
        } else {
            (last.filter(|_| more), first.filter(|_| cursor.is_some()))
        };
        Window {
            items: rows,
            next,
            previous,
        }
    }

    /// The forward page of the API's lists (`next_cursor`).
    pub fn into_page(self) -> Page<T> {
        Page {
            items: self.items,
            next_cursor: self.next.map(|id| id.to_string()),
        }
    }

    pub fn try_map_items<U, E>(
        self,
        f: impl FnOnce(Vec<T>) -> Result<Vec<U>, E>,
    ) -> Result<Window<U>, E> {
        Ok(Window {
            items: f(self.items)?,
            next: self.next,
            previous: self.previous,
        })
    }
}

/// Orders a boxed query by its id column ascending and starts it at `towards`: after the
/// cursor, or (walking back) before it, nearest first. Read `limit + 1` rows and cut them
/// with `Window::from_rows`.
#[macro_export]
macro_rules! walk_by_id {
    ($query:expr, $id:expr, $newtype:path, $towards:expr) => {
        match $towards {
            $crate::pagination::Towards::Next(None) => $query.order($id.asc()),
            $crate::pagination::Towards::Next(Some(after)) => {
                $query.filter($id.gt($newtype(after))).order($id.asc())
            }
            $crate::pagination::Towards::Previous(before) => {
                $query.filter($id.lt($newtype(before))).order($id.desc())
            }
        }
    };
}
