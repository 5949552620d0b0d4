//! go-livepeer usage envelopes as they arrive from Kafka: arbitrary bytes never panic, and a
//! parsed ticket's money converts to its storage form and back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollhouse_core::money::{EthUsdPrice, ExactUsd, Wei, usd_exact};
use tollhouse_core::usage::parse_usage_event;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(ticket)) = parse_usage_event(data) {
        if let Ok(parts) = ticket.fee.to_parts() {
            assert_eq!(Wei::from_parts(parts).ok(), Some(ticket.fee));
        }
        if let Ok(price) = EthUsdPrice::parse("3456.789012") {
            let usd = usd_exact(ticket.fee, price);
            if let Ok(parts) = usd.to_parts() {
                assert_eq!(ExactUsd::from_parts(parts).ok(), Some(usd));
            }
            assert!(usd.ceil_micros() >= usd.floor_micros());
        }
    }
});
