//! No error of the core prints its source again: an error either shows
//! its cause in its text or returns it from `source()`, never both (a
//! chain printer such as anyhow's `{:#}` would print it twice).

use gazette_core::append::{AppendError, validate_preamble};
use gazette_core::list::ListError;
use gazette_core::proto::{AppendRequest, Route, Status, process_spec::Id};
use gazette_core::read::ReadError;
use gazette_core::route::{DispatchError, member_address};
use gazette_core::status::StatusError;
use gazette_core::validate::validate_journal_name;

fn assert_no_text_twice(err: &(dyn std::error::Error + 'static)) {
    let mut texts = vec![err.to_string()];
    let mut next = err.source();
    while let Some(source) = next {
        texts.push(source.to_string());
        next = source.source();
    }
    for pair in texts.windows(2) {
        assert!(
            pair[1].is_empty() || !pair[0].contains(&pair[1]),
            "{:?} prints its source {:?} again (chain {texts:?})",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn no_core_error_prints_its_source_twice() {
    let request = validate_preamble(&AppendRequest::default()).unwrap_err();
    let wrapped = StatusError::Wrapped {
        status: Status::RegisterMismatch,
        detail: "selector {} doesn't match registers {owner=a}".into(),
    };
    let append = [
        AppendError::Status(StatusError::Named(Status::JournalNotFound)),
        AppendError::Status(wrapped.clone()),
        AppendError::InvalidRequest(request.clone()),
        AppendError::DependencyFailed(Box::new(AppendError::InvalidRequest(request))),
    ];
    for err in &append {
        assert_no_text_twice(err);
    }
    let others: Vec<Box<dyn std::error::Error>> = vec![
        Box::new(ReadError::Status(wrapped)),
        Box::new(ReadError::InvalidRequest(
            validate_journal_name("").unwrap_err(),
        )),
        Box::new(ListError::InvalidRequest(
            validate_journal_name("").unwrap_err(),
        )),
        Box::new(ListError::Status(StatusError::Named(Status::Suspended))),
    ];
    for err in &others {
        assert_no_text_twice(err.as_ref());
    }
    let member = Id {
        zone: "a".into(),
        suffix: "broker".into(),
    };
    let route = Route {
        members: vec![member.clone()],
        primary: 0,
        endpoints: vec!["not a url".into()],
    };
    let err = member_address(&route, &member).unwrap_err();
    assert!(
        matches!(err, DispatchError::InvalidEndpoint { .. }),
        "{err:?}"
    );
    assert_no_text_twice(&err);
}
