//! Parses arbitrary text as a label selector: never panics, and whatever
//! parses is valid and round-trips through its canonical text form.
#![no_main]

use gazette_core::validate::{SelectorDisplay, Validate, parse_label_selector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(selector) = parse_label_selector(text) else {
        return;
    };
    assert!(selector.validate().is_ok());
    let canonical = SelectorDisplay(&selector).to_string();
    let reparsed = parse_label_selector(&canonical)
        .unwrap_or_else(|e| panic!("canonical {canonical:?} of {text:?} fails: {e}"));
    assert_eq!(reparsed, selector, "{text:?} -> {canonical:?}");
    assert_eq!(SelectorDisplay(&reparsed).to_string(), canonical);
});
