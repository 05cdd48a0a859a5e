//! The wasmtime engine: compiler and allocator settings, and the epoch clock.
//!
//! The settings are the ones measurements chose (BENCHMARKS.md,
//! Optimisations: the pooling allocator, full index space): the pooling
//! allocator with memory kept resident between instances and `pagemap_scan`
//! keeps a fresh instance per job cheap, and reserving each memory's whole
//! 32-bit index space lets compiled code skip bounds checks. Epoch interruption
//! gives every call a wall-clock deadline: a background thread ticks the
//! epoch every [`EPOCH_TICK`], and each store traps once its deadline has
//! passed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; the granularity of plugin deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide limits, fixed at start-up.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    /// Plugin instances alive at once (the pool size). Jobs beyond this wait
    /// for a slot rather than fail.
    pub max_instances: u32,
    /// Largest linear memory of one instance, in bytes.
    pub max_memory: u64,
    /// Count fuel (instructions) so that calls can be given a budget; off
    /// by default, as it slows every call a little.
    pub fuel: bool,
    /// Idle instances kept warm for reuse (all plugins together); the pool
    /// has room for them beside `max_instances` running ones.
    pub warm_instances: u32,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            max_instances: 256,
            max_memory: 64 << 20,
            fuel: false,
            warm_instances: 0,
        }
    }
}

/// Fresh instances made ahead of their job (`Plugin::prepare`), all plugins
/// together; the pool has room for them beside the running and warm ones.
pub const READY_INSTANCES: usize = 4;

/// A reservation covering a 32-bit memory's whole index space: with it
/// (and the default guard region after it) compiled plugins need no bounds
/// check on their loads and stores, as the page protection traps instead.
/// It is address space only; what an instance may use is still
/// `max_memory` (figures: BENCHMARKS.md, Optimisations).
const FULL_INDEX_SPACE: u64 = 4 << 30;

/// Build an engine with the pooling allocator sized by `limits`.
///
/// Each memory slot of the pool reserves the whole 4 GiB index space
/// (about 4 TiB of address space for the default 256 instances). Where the
/// address space is too small for that (a `ulimit -v`, say) the engine is
/// built again with slots of `max_memory`, whose code checks bounds.
pub fn build_engine(limits: &EngineLimits) -> wasmtime::Result<Engine> {
    match engine_with_reservation(limits, limits.max_memory.max(FULL_INDEX_SPACE)) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::warn!(
                "could not reserve 4 GiB of address space per plugin memory ({error:#}); \
                 using {} MiB slots with bounds-checked code instead",
                limits.max_memory >> 20
            );
            engine_with_reservation(limits, limits.max_memory)
        }
    }
}

fn engine_with_reservation(limits: &EngineLimits, reservation: u64) -> wasmtime::Result<Engine> {
    let instances = limits
        .max_instances
        .max(1)
        .saturating_add(limits.warm_instances)
        .saturating_add(READY_INSTANCES as u32);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        // A component holds several core instances (the main module plus
        // adapters and shims); JavaScript and Python components hold more.
        .total_core_instances(instances.saturating_mul(16))
        .total_memories(instances.saturating_mul(4))
        .total_tables(instances.saturating_mul(8))
        .total_stacks(instances)
        .max_memories_per_module(2)
        .max_tables_per_module(4)
        .max_memory_size(limits.max_memory as usize)
        // Keep the first pages of each slot mapped between instances and
        // reset them with pagemap_scan: the single biggest per-job saving.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(1 << 20)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_reservation(reservation)
        .memory_reservation_for_growth(0)
        .epoch_interruption(true)
        .consume_fuel(limits.fuel)
        .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(16))
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    Engine::new(&config)
}

/// Advances an engine's epoch every [`EPOCH_TICK`] until dropped.
#[derive(Debug)]
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Start ticking `engine` on a background thread.
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("jobhost-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{
        Global, GlobalType, Instance, Module, Mutability, Ref, RefType, Store, Table, TableType,
        Val, ValType,
    };

    /// Active element segments filling an imported table at imported
    /// offsets, as the core modules of a componentize-py plugin do. The
    /// engine applies each segment with one call (vendor/README.md,
    /// change 6); these are the semantics that must not change with it.
    const FILLER: &str = r#"(module
        (import "host" "table" (table 8 funcref))
        (import "host" "first" (global i32))
        (import "host" "second" (global i32))
        (func $one (result i32) i32.const 1)
        (func $two (result i32) i32.const 2)
        (elem (table 0) (global.get 0) func $one $two $one)
        (elem (table 0) (global.get 1) func $two)
        (func (export "call") (param i32) (result i32)
            local.get 0
            call_indirect (result i32)))"#;

    struct Filled {
        store: Store<()>,
        table: Table,
        instance: Result<Instance, wasmtime::Error>,
    }

    async fn fill(engine: &Engine, module: &Module, first: i32, second: i32) -> Filled {
        let mut store = Store::new(engine, ());
        // No epoch ticker runs here: any deadline ahead of the epoch will do.
        store.set_epoch_deadline(1);
        let table = Table::new(
            &mut store,
            TableType::new(RefType::FUNCREF, 8, None),
            Ref::Func(None),
        )
        .expect("a table of 8");
        let global = |store: &mut Store<()>, value| {
            Global::new(
                store,
                GlobalType::new(ValType::I32, Mutability::Const),
                Val::I32(value),
            )
            .expect("an i32 global")
        };
        let first = global(&mut store, first);
        let second = global(&mut store, second);
        let imports = [table.into(), first.into(), second.into()];
        let instance = Instance::new_async(&mut store, module, &imports).await;
        Filled {
            store,
            table,
            instance,
        }
    }

    fn is_set(filled: &mut Filled, index: u64) -> bool {
        matches!(
            filled.table.get(&mut filled.store, index),
            Some(Ref::Func(Some(_)))
        )
    }

    #[tokio::test]
    async fn element_segments_fill_an_imported_table_in_order_and_trap_before_writing() {
        let engine = build_engine(&EngineLimits::default()).expect("the engine");
        let wasm = wat::parse_str(FILLER).expect("valid text");
        let module = Module::new(&engine, wasm).expect("the module");

        // Both segments fit: each element calls the function it names; the
        // elements no segment covers stay null.
        let mut filled = fill(&engine, &module, 2, 5).await;
        let instance = filled.instance.as_ref().expect("instantiated").to_owned();
        let call = instance
            .get_typed_func::<i32, i32>(&mut filled.store, "call")
            .expect("the export");
        let mut results = Vec::new();
        for index in 2..6 {
            results.push(
                call.call_async(&mut filled.store, index)
                    .await
                    .expect("a call"),
            );
        }
        assert_eq!(results, [1, 2, 1, 2]);
        for index in [0, 1, 6, 7] {
            assert!(!is_set(&mut filled, index), "element {index} was written");
            let error = call
                .call_async(&mut filled.store, index as i32)
                .await
                .expect_err("a null element traps");
            assert!(
                format!("{error:?}").contains("uninitialized element"),
                "{error:?}"
            );
        }

        // The first segment overruns the table: instantiation traps before
        // it writes anything.
        let mut filled = fill(&engine, &module, 6, 0).await;
        let error = filled.instance.as_ref().expect_err("an overrun traps");
        assert!(
            format!("{error:?}").contains("out of bounds table access"),
            "{error:?}"
        );
        for index in 0..8 {
            assert!(!is_set(&mut filled, index), "element {index} was written");
        }

        // The second overruns: the first is applied, as the order of
        // segments has it, and the second writes nothing.
        let mut filled = fill(&engine, &module, 0, 8).await;
        assert!(filled.instance.is_err(), "an overrun traps");
        let set: Vec<bool> = (0..8).map(|index| is_set(&mut filled, index)).collect();
        assert_eq!(set, [true, true, true, false, false, false, false, false]);
    }
}
