#![no_main]
libfuzzer_sys::fuzz_target!(|input: strata_fuzz::resolve_path::Input| drop(
    strata_fuzz::resolve_path::check(&input)
));
