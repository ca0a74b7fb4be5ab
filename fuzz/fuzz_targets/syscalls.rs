#![no_main]
libfuzzer_sys::fuzz_target!(|input: strata_fuzz::syscalls::Input| drop(
    strata_fuzz::syscalls::check(&input)
));
