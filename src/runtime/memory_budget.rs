//! Linear memory and tables counted against the run's memory budget, the same `Budget` the
//! filesystem charges: a guest's `memory.grow` past what is left returns -1 (the spec lets a
//! grow fail), and a memory whose initial size does not fit fails instantiation. A table is
//! charged when it is created for every element it may ever hold (wasmer's tables grow a plain
//! vector, which cannot be watched): its declared maximum, capped at [`TABLE_GROWTH`] elements
//! beyond its initial size (so `table.grow` past that returns -1); a table that does not fit
//! fails instantiation. Engines that strata makes carry these tunables; the budget of the
//! instance being created is handed to them through a thread-local for the length of
//! `Instance::new`, so one engine serves runs with different budgets.

use super::memory_image::ImageFile;
use crate::vfs::budget::Budget;
use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmer::sys::vm::{
    ExpectedValue, LinearMemory, MemoryError, MemoryStyle, TableStyle, ThreadConditions, Trap,
    VMMemory, VMMemoryDefinition, VMSharedMemory, VMTable, VMTableDefinition, WaiterError,
};
use wasmer::sys::{BaseTunables, NativeEngineExt, Tunables};
use wasmer::{Engine, MemoryType, Pages, TableType};

/// What one table element is counted as: the 8-byte reference wasmer stores, twice (the
/// vector it grows may hold up to twice its length).
pub const TABLE_ELEMENT_COST: u64 = 16;

/// Most elements a table may grow by beyond its initial size (1 MiB of budget at
/// [`TABLE_ELEMENT_COST`]), whatever maximum it declares: toolchains declare fixed tables
/// (minimum = maximum), so only growable ones are capped, and `table.grow` past the cap
/// returns -1 as the spec allows.
pub const TABLE_GROWTH: u32 = 1 << 16;

const PAGE: u64 = 65536;

/// The budget of the instantiation under way on this thread, and what its tables took.
struct Scope {
    budget: Arc<Budget>,
    tables: u64,
}

type MemoryHandle = Box<dyn LinearMemory + Send + Sync + 'static>;

thread_local! {
    static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
    /// A handle to an existing memory that the next host memory made on this thread is.
    static ATTACH: RefCell<Option<Result<MemoryHandle, MemoryError>>> =
        const { RefCell::new(None) };
    /// The image the next instance memory made on this thread starts from (see
    /// `memory_image`).
    static IMAGE: RefCell<Option<Arc<ImageFile>>> = const { RefCell::new(None) };
}

/// Runs `f` (an instantiation) with its memory starting as `image`, whose data segments are
/// then not copied again; with an engine that does not carry these tunables, `f` initialises
/// its memory as usual.
pub(crate) fn with_image<R>(image: Option<Arc<ImageFile>>, f: impl FnOnce() -> R) -> R {
    IMAGE.with(|i| *i.borrow_mut() = image);
    let r = f();
    IMAGE.with(|i| i.borrow_mut().take());
    r
}

/// What the tables of one instance hold of a budget; given back when dropped (with the store
/// that owns the instance).
#[derive(Debug)]
pub(crate) struct TableCharge {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Drop for TableCharge {
    fn drop(&mut self) {
        self.budget.refund(self.bytes, 0);
    }
}

/// Runs `f` (an instantiation) with `budget` as the one its memories and tables charge; also
/// returns what its tables took (given back when the `TableCharge` is dropped).
pub(crate) fn with_budget<R>(
    budget: Option<Arc<Budget>>,
    f: impl FnOnce() -> R,
) -> (R, Option<TableCharge>) {
    let scope = budget.map(|budget| Scope { budget, tables: 0 });
    let previous = CURRENT.with(|c| c.replace(scope));
    let r = f();
    let scope = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), previous));
    let charge = scope.map(|s| TableCharge {
        budget: s.budget,
        bytes: s.tables,
    });
    (r, charge)
}

fn current() -> Option<Arc<Budget>> {
    CURRENT.with(|c| c.borrow().as_ref().map(|s| s.budget.clone()))
}

/// Gives `engine` the budgeted tunables.
pub fn budgeted(mut engine: Engine) -> Engine {
    engine.set_tunables(BudgetTunables(BaseTunables::new()));
    engine
}

struct BudgetTunables(BaseTunables);

impl BudgetTunables {
    /// The memory, charged to the current budget if there is one; `imaged`: its contents
    /// are already what its data segments would make them.
    fn charged(&self, memory: VMMemory, imaged: bool) -> Result<VMMemory, MemoryError> {
        let budget = current();
        if budget.is_none() && !imaged {
            return Ok(memory);
        }
        let initial = u64::from(memory.0.size().0) * PAGE;
        let account = match budget {
            Some(budget) => {
                budget
                    .charge(initial, 0)
                    .map_err(|_| over_budget(initial))?;
                Some(Arc::new(Account {
                    budget,
                    charged: AtomicU64::new(initial),
                }))
            }
            None => None,
        };
        Ok(VMMemory(Box::new(Budgeted {
            inner: memory.0,
            account,
            imaged,
        })))
    }

    /// `ty` with its maximum capped ([`TABLE_GROWTH`]), and every element it may hold
    /// charged to the current budget (recorded in the scope, to be given back).
    fn charged_table(ty: &TableType) -> Result<(TableType, u64), String> {
        let mut ty = *ty;
        let Some(budget) = current() else {
            return Ok((ty, 0));
        };
        let cap = ty.minimum.saturating_add(TABLE_GROWTH);
        let max = ty.maximum.map_or(cap, |m| m.min(cap)).max(ty.minimum);
        ty.maximum = Some(max);
        let bytes = u64::from(max) * TABLE_ELEMENT_COST;
        budget.charge(bytes, 0).map_err(|_| {
            format!(
                "a table of up to {max} elements ({bytes} bytes) would pass the run's memory \
                 budget (max_memory)"
            )
        })?;
        CURRENT.with(|c| {
            if let Some(s) = c.borrow_mut().as_mut() {
                s.tables += bytes;
            }
        });
        Ok((ty, bytes))
    }

    /// Gives back what `charged_table` took for a table that was not made.
    fn uncharge_table(bytes: u64) {
        CURRENT.with(|c| {
            if let Some(s) = c.borrow_mut().as_mut() {
                s.tables -= bytes;
                s.budget.refund(bytes, 0);
            }
        });
    }
}

#[cold]
fn over_budget(bytes: u64) -> MemoryError {
    MemoryError::Generic(format!(
        "{bytes} more bytes of linear memory would pass the run's memory budget (max_memory)"
    ))
}

impl Tunables for BudgetTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.0.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.0.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        if let Some(handle) = ATTACH.with(|a| a.take()) {
            return handle.map(VMMemory);
        }
        self.charged(self.0.create_host_memory(ty, style)?, false)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        // SAFETY: forwarded with the caller's guarantee that the location is valid and owned.
        let memory = unsafe { self.0.create_vm_memory(ty, style, vm_definition_location)? };
        let imaged = match IMAGE.with(|i| i.borrow_mut().take()) {
            Some(image) => {
                // SAFETY: wasmer keeps the definition valid for as long as the memory lives.
                let def = unsafe { memory.0.vmmemory().as_ref() };
                if def.current_length != image.len() {
                    return Err(MemoryError::Generic(
                        "the memory image does not match this module's memory".into(),
                    ));
                }
                // SAFETY: the memory was created just now (zeros, unreferenced); its first
                // `current_length` bytes are accessible, page-aligned, and wasmer unmaps
                // them with the rest of its reservation when the memory is dropped.
                unsafe { image.map_over(def.base) }.map_err(|e| {
                    MemoryError::Generic(format!("cannot map the memory image: {e}"))
                })?;
                true
            }
            None => false,
        };
        self.charged(memory, imaged)
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        let (ty, bytes) = Self::charged_table(ty)?;
        self.0
            .create_host_table(&ty, style)
            .inspect_err(|_| Self::uncharge_table(bytes))
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let (ty, bytes) = Self::charged_table(ty)?;
        // SAFETY: forwarded with the caller's guarantee that the location is valid and owned.
        unsafe { self.0.create_vm_table(&ty, style, vm_definition_location) }
            .inspect_err(|_| Self::uncharge_table(bytes))
    }
}

/// What one linear memory holds of a budget, shared by every handle to it (a shared memory
/// has one per thread); given back when the last handle is dropped.
#[derive(Debug)]
struct Account {
    budget: Arc<Budget>,
    charged: AtomicU64,
}

impl Drop for Account {
    fn drop(&mut self) {
        self.budget.refund(*self.charged.get_mut(), 0);
    }
}

/// A linear memory whose growth is charged to a budget (if it has an account), and whose
/// data segments are not copied in if it started from an image. Atomics
/// (`memory.atomic.wait` and `notify`) are forwarded, so a shared memory behind it works
/// across threads.
#[derive(Debug)]
struct Budgeted {
    inner: Box<dyn LinearMemory + Send + Sync + 'static>,
    account: Option<Arc<Account>>,
    /// Mapped from the module's memory image: the data segments are already in place.
    imaged: bool,
}

impl Budgeted {
    fn charge(&self, bytes: u64) -> Result<(), MemoryError> {
        match &self.account {
            Some(a) => a.budget.charge(bytes, 0).map_err(|_| over_budget(bytes)),
            None => Ok(()),
        }
    }

    fn refund(&self, bytes: u64) {
        if let Some(a) = &self.account {
            a.budget.refund(bytes, 0);
        }
    }

    /// Records that the memory now holds `bytes` more (or, `reset`, none).
    fn charged_more(&self, bytes: u64) {
        if let Some(a) = &self.account {
            a.charged.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

impl LinearMemory for Budgeted {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }

    fn size(&self) -> Pages {
        self.inner.size()
    }

    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let bytes = u64::from(delta.0) * PAGE;
        self.charge(bytes)?;
        match self.inner.grow(delta) {
            Ok(p) => {
                self.charged_more(bytes);
                Ok(p)
            }
            Err(e) => {
                self.refund(bytes);
                Err(e)
            }
        }
    }

    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        let have = u64::from(self.inner.size().0) * PAGE;
        let more = min_size.saturating_sub(have);
        self.charge(more)?;
        match self.inner.grow_at_least(min_size) {
            Ok(()) => {
                let now = u64::from(self.inner.size().0) * PAGE;
                // Charge what it really grew by.
                let grew = now.saturating_sub(have);
                self.refund(more);
                if let Some(a) = &self.account {
                    a.budget.add(grew);
                }
                self.charged_more(grew);
                Ok(())
            }
            Err(e) => {
                self.refund(more);
                Err(e)
            }
        }
    }

    fn reset(&mut self) -> Result<(), MemoryError> {
        self.inner.reset()?;
        if let Some(a) = &self.account {
            a.budget.refund(a.charged.swap(0, Ordering::Relaxed), 0);
        }
        Ok(())
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }

    /// Another handle to the same memory (a shared memory for another thread's store),
    /// charged to the same account.
    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Ok(Box::new(Budgeted {
            inner: self.inner.try_clone()?,
            account: self.account.clone(),
            imaged: self.imaged,
        }))
    }

    /// Nothing to copy for a memory mapped from its module's image: the segment is there.
    unsafe fn initialize_with_data(&self, start: usize, data: &[u8]) -> Result<(), Trap> {
        if self.imaged {
            return Ok(());
        }
        // SAFETY: forwarded with the caller's guarantee (called at instantiation only).
        unsafe { self.inner.initialize_with_data(start, data) }
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        self.inner.copy()
    }

    fn as_shared(&self) -> Result<VMSharedMemory, MemoryError> {
        self.inner.as_shared()
    }

    unsafe fn do_wait(
        &mut self,
        dst: u32,
        expected: ExpectedValue,
        timeout: Option<Duration>,
    ) -> Result<u32, WaiterError> {
        // SAFETY: forwarded with the caller's guarantee that `dst` is a valid, aligned offset
        // in this memory (the inner memory is this memory).
        unsafe { self.inner.do_wait(dst, expected, timeout) }
    }

    fn do_notify(&mut self, dst: u32, count: u32) -> u32 {
        self.inner.do_notify(dst, count)
    }

    fn thread_conditions(&self) -> Option<&ThreadConditions> {
        self.inner.thread_conditions()
    }
}

/// The one shared linear memory of a threaded program, made outside any store and charged to
/// the run's budget: each thread's store gets a handle to it (`attach`), and stopping the
/// program wakes every thread waiting on it (`stop_waiters`).
pub(crate) struct ProgramMemory {
    vm: VMMemory,
}

impl ProgramMemory {
    /// A memory of type `ty` (shared) made with `engine`'s tunables.
    pub(crate) fn new(
        engine: &Engine,
        ty: &MemoryType,
        budget: Option<Arc<Budget>>,
    ) -> Result<ProgramMemory, MemoryError> {
        let tunables = engine.tunables();
        let style = tunables.memory_style(ty);
        let (vm, _) = with_budget(budget, || tunables.create_host_memory(ty, &style));
        Ok(ProgramMemory { vm: vm? })
    }

    /// A handle to the memory in `store`, whose engine must carry the budgeted tunables:
    /// they hand it over when wasmer asks them for a new memory (wasmer's public API takes
    /// no ready-made memory of ours into a store).
    pub(crate) fn attach(&self, store: &mut wasmer::Store) -> Result<wasmer::Memory, MemoryError> {
        let ty = self.vm.ty();
        ATTACH.with(|a| a.replace(Some(self.vm.try_clone().map(|m| m.0))));
        let memory = wasmer::Memory::new(store, ty);
        match ATTACH.with(|a| a.take()) {
            None => memory,
            Some(_) => Err(MemoryError::Generic(
                "threads need an engine made by strata (runtime::engine_for or budgeted)".into(),
            )),
        }
    }

    /// Makes every `memory.atomic.wait`, now and later, trap: a thread blocked in one wakes
    /// and ends, as does one that would block after the program ended.
    pub(crate) fn stop_waiters(&self) {
        if let Some(conditions) = self.vm.thread_conditions() {
            conditions.disable_atomics();
        }
    }
}
