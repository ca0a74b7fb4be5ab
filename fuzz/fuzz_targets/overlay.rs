#![no_main]
libfuzzer_sys::fuzz_target!(|input: strata_fuzz::overlay::Input| drop(
    strata_fuzz::overlay::check(&input)
));
