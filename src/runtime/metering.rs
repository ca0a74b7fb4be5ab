//! Instruction fuel on wasmer: engines that compile a module with wasmer's metering
//! middleware (one unit per WebAssembly operator; the instance traps when it runs out), and
//! the check that tells that trap from any other.

#![forbid(unsafe_code)]

use std::sync::Arc;
use wasmer::sys::{CompilerConfig, Cranelift, EngineBuilder};
use wasmer::wasmparser::Operator;
use wasmer::{Engine, Instance, Store, Value};
use wasmer_middlewares::Metering;

/// The global the metering middleware sets to 1 when the fuel runs out (then it traps).
const POINTS_EXHAUSTED: &str = "wasmer_metering_points_exhausted";

/// An engine whose modules burn one unit of `fuel` per WebAssembly operator executed and
/// trap when it runs out (`run_instance` reports `Error::OutOfFuel`). Each instance starts
/// with the full `fuel`. The metering middleware belongs to one module: compile exactly one
/// module with each engine (and run it in stores of that engine).
pub fn metered_engine(fuel: u64) -> Engine {
    let mut config = Cranelift::default();
    config.push_middleware(Arc::new(Metering::new(fuel, |_: &Operator| 1)));
    Engine::from(EngineBuilder::new(config))
}

/// True if `instance` was compiled with metering and its fuel ran out.
pub(super) fn fuel_exhausted(store: &mut Store, instance: &Instance) -> bool {
    instance
        .exports
        .get_global(POINTS_EXHAUSTED)
        .is_ok_and(|g| matches!(g.get(store), Value::I32(1)))
}
