//! Paging through ListFragments (docs/behaviour.md#listallfragments).

use gazette_proto::{FragmentsRequest, FragmentsResponse};

use super::ListError;
use crate::status::{Operation, StatusError};
use crate::validate::{Validate, ValidationError};

/// What to do after a ListFragments page.
#[derive(Debug, Clone, PartialEq)]
pub enum PagerStep {
    /// Send this request for the next page.
    Next(FragmentsRequest),
    /// All pages are joined: the first page's header, every fragment, and
    /// `next_page_token` 0.
    Done(FragmentsResponse),
    /// A page failed. `partial` holds the pages joined so far (`None` when
    /// the first page failed); Go returns it alongside the error (quirk 27,
    /// kept: it lets a caller use what it already has).
    Failed {
        /// The pages joined before the failure.
        partial: Option<FragmentsResponse>,
        /// Why the page failed.
        error: ListError,
    },
}

/// Go's `ListAllFragments` as a machine: sends the request, follows
/// `next_page_token` until it is 0 and joins the pages. The dispatch hint
/// (the journal's item route, primary not required) is computed once by the
/// driver for all pages.
#[derive(Debug, Clone)]
pub struct FragmentPager {
    request: FragmentsRequest,
    joined: Option<FragmentsResponse>,
    finished: bool,
}

impl FragmentPager {
    /// A pager for `request`, validated first (as the broker would).
    pub fn new(request: FragmentsRequest) -> Result<Self, ValidationError> {
        request.validate()?;
        Ok(FragmentPager {
            request,
            joined: None,
            finished: false,
        })
    }

    /// The request for the current page.
    pub fn request(&self) -> &FragmentsRequest {
        &self.request
    }

    /// Whether the pager is done or failed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Feeds the response of the current page.
    pub fn on_response(&mut self, mut page: FragmentsResponse) -> PagerStep {
        if let Err(e) = page.validate() {
            return self.on_error(e.into());
        }
        if let Some(e) =
            StatusError::from_status(Operation::ListFragments, page.status, String::new)
        {
            return self.on_error(e.into());
        }
        let token = std::mem::take(&mut page.next_page_token);
        match self.joined.as_mut() {
            None => self.joined = Some(page),
            Some(joined) => joined.fragments.extend(page.fragments),
        }
        if token == 0 {
            self.finished = true;
            return PagerStep::Done(self.joined.take().unwrap_or_default());
        }
        self.request.next_page_token = token;
        PagerStep::Next(self.request.clone())
    }

    /// Feeds an RPC error for the current page (already context-mapped by
    /// the driver).
    pub fn on_error(&mut self, error: ListError) -> PagerStep {
        self.finished = true;
        PagerStep::Failed {
            partial: self.joined.take(),
            error,
        }
    }
}
