//! wasi-threads test program (built for wasm32-wasip1-threads): Rust `std::thread` over one
//! filesystem and one fd table. `threads CMD [ARGS]`; each command prints what it checked.
//!   spawn N           N threads each write their own file; main reads them all back
//!   shared-fd N       N threads write lines through one open file; main counts them
//!   stress N ITERS    N threads create, rename, link and delete in one directory; main
//!                     checks the directory and the link counts against what must be there
//!   exit-thread CODE  a thread calls exit(CODE) while main sleeps forever
//!   exit-main CODE    main calls exit(CODE) while a thread spins
//!   return-main       main returns while a thread sleeps forever
//!   trap-thread       a thread aborts (a trap) while main sleeps forever
//!   hang              a thread spins forever; main waits for it
//!   many N            try to start N threads that all stay alive; print how many started
//!   writers N MIB     N threads each write MIB MiB to a file of their own; print the time
//!   readers N MIB F   N threads each read the file F over and over, MIB MiB each in 64 KiB
//!                     reads; print the time and a checksum of everything read
//!   escape ITERS      one thread swaps symlinks and directories while another tries to open
//!                     a file outside its preopen through them; print how often it got out
//!   efault ITERS      one thread grows memory while another passes buffers past its end
//!   stdin             a thread reads stdin to the end; main prints what it read
//!   budget N          N threads each take 1 MiB blocks of memory until refused; print the
//!                     MiB they hold together

use std::fs;
use std::io::{Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use strata_test_programs::{path_filestat_get, path_symlink};

fn arg(i: usize) -> String {
    std::env::args().nth(i).unwrap_or_default()
}

fn num(i: usize) -> usize {
    arg(i).parse().expect("a number")
}

fn main() {
    // Scratch space (the sandbox's root is writable; `escape` runs without it preopened).
    let _ = fs::create_dir_all("/tmp");
    match arg(1).as_str() {
        "spawn" => spawn(num(2)),
        "shared-fd" => shared_fd(num(2)),
        "stress" => stress(num(2), num(3)),
        "exit-thread" => {
            let code = num(2) as i32;
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                std::process::exit(code);
            });
            loop {
                thread::sleep(Duration::from_secs(3600));
            }
        }
        "exit-main" => {
            thread::spawn(|| {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            });
            thread::sleep(Duration::from_millis(50));
            std::process::exit(num(2) as i32);
        }
        "return-main" => {
            thread::spawn(|| loop {
                thread::sleep(Duration::from_secs(3600));
            });
            thread::sleep(Duration::from_millis(20));
            println!("main returns");
        }
        "trap-thread" => {
            thread::spawn(|| {
                thread::sleep(Duration::from_millis(20));
                std::process::abort();
            });
            loop {
                thread::sleep(Duration::from_secs(3600));
            }
        }
        "hang" => {
            let h = thread::spawn(|| {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            });
            h.join().unwrap();
        }
        "many" => many(num(2)),
        "budget" => {
            let n = num(2);
            // Blocks are kept until every thread has been refused, so none is counted twice.
            let all_refused = Arc::new(std::sync::Barrier::new(n));
            let handles: Vec<_> = (0..n)
                .map(|t| {
                    let all_refused = all_refused.clone();
                    thread::spawn(move || {
                        let mut held: Vec<Vec<u8>> = Vec::new();
                        loop {
                            let mut v = Vec::new();
                            if v.try_reserve_exact(1 << 20).is_err() {
                                break;
                            }
                            v.resize(1 << 20, t as u8 + 1);
                            held.push(v);
                        }
                        all_refused.wait();
                        // Every block still holds what this thread wrote (no block shared).
                        let bad = held.iter().filter(|v| v.iter().any(|&b| b != t as u8 + 1)).count();
                        (held.len(), bad)
                    })
                })
                .collect();
            let got: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let mib: usize = got.iter().map(|g| g.0).sum();
            let bad: usize = got.iter().map(|g| g.1).sum();
            println!("held {mib} MiB, overwritten blocks {bad}");
        }
        "writers" => writers(num(2), num(3)),
        "readers" => readers(num(2), num(3), arg(4)),
        "escape" => escape(num(2)),
        "efault" => efault(num(2)),
        "stdin" => {
            let h = thread::spawn(|| {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).unwrap();
                s
            });
            let s = h.join().unwrap();
            println!("read {} bytes: {s:?}", s.len());
        }
        other => {
            eprintln!("threads: unknown command {other:?}");
            std::process::exit(2);
        }
    }
}

fn spawn(n: usize) {
    fs::create_dir_all("/tmp/spawn").unwrap();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let body = format!("thread {i}\n").repeat(100);
                fs::write(format!("/tmp/spawn/t{i}"), &body).unwrap();
                body.len()
            })
        })
        .collect();
    let written: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut read = 0;
    for i in 0..n {
        let s = fs::read_to_string(format!("/tmp/spawn/t{i}")).unwrap();
        assert_eq!(s, format!("thread {i}\n").repeat(100));
        read += s.len();
    }
    println!("spawned {n}, wrote {written} bytes, read back {read}");
}

fn shared_fd(n: usize) {
    fs::create_dir_all("/tmp").unwrap();
    let file = Arc::new(fs::File::create("/tmp/shared.txt").unwrap());
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let file = file.clone();
            thread::spawn(move || {
                for j in 0..200 {
                    (&*file)
                        .write_all(format!("t{i} line {j}\n").as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let text = fs::read_to_string("/tmp/shared.txt").unwrap();
    let mut counts = vec![0; n];
    for line in text.lines() {
        let t: usize = line[1..line.find(' ').unwrap()].parse().unwrap();
        counts[t] += 1;
    }
    println!("lines per thread: {counts:?}, total {}", text.lines().count());
}

fn stress(n: usize, iters: usize) {
    let dir = "/tmp/stress";
    fs::create_dir_all(dir).unwrap();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                for k in 0..iters {
                    let a = format!("{dir}/a{i}-{k}");
                    let b = format!("{dir}/b{i}-{k}");
                    fs::write(&a, format!("{i}-{k}")).unwrap();
                    fs::rename(&a, &b).unwrap();
                    if k % 3 == 0 {
                        fs::hard_link(&b, format!("{dir}/l{i}-{k}")).unwrap();
                    }
                    if k % 2 == 0 {
                        fs::remove_file(&b).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut got: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    got.sort();
    let mut want = Vec::new();
    for i in 0..n {
        for k in 0..iters {
            if k % 2 == 1 {
                want.push(format!("b{i}-{k}"));
            }
            if k % 3 == 0 {
                want.push(format!("l{i}-{k}"));
            }
        }
    }
    want.sort();
    let mut bad_links = 0;
    let mut bad_data = 0;
    for name in &got {
        let path = format!("{dir}/{name}");
        // fd 3: the root preopen.
        let meta = path_filestat_get(3, 1, path[1..].as_bytes()).unwrap();
        let k: usize = name[name.find('-').unwrap() + 1..].parse().unwrap();
        // A name and its link are one inode while both exist.
        let links = 1 + u64::from(k % 3 == 0 && k % 2 == 1);
        if meta.nlink != links {
            bad_links += 1;
        }
        if fs::read_to_string(&path).unwrap() != name[1..] {
            bad_data += 1;
        }
    }
    println!(
        "stress: {} entries, expected {}, same names: {}, wrong link counts: {bad_links}, wrong contents: {bad_data}",
        got.len(),
        want.len(),
        got == want
    );
}

fn many(n: usize) {
    let gate = Arc::new(std::sync::Mutex::new(()));
    let hold = gate.lock().unwrap();
    let mut handles = Vec::new();
    for _ in 0..n {
        let gate = gate.clone();
        match thread::Builder::new().spawn(move || drop(gate.lock())) {
            Ok(h) => handles.push(h),
            Err(_) => break,
        }
    }
    println!("started {} of {n}", handles.len());
    drop(hold);
    for h in handles {
        h.join().unwrap();
    }
}

fn writers(n: usize, mib: usize) {
    fs::create_dir_all("/tmp/w").unwrap();
    let chunk = vec![7u8; 64 << 10];
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let chunk = chunk.clone();
            thread::spawn(move || {
                let mut f = fs::File::create(format!("/tmp/w/f{i}")).unwrap();
                for _ in 0..mib * 16 {
                    f.write_all(&chunk).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let total = n * mib;
    println!("writers {n} x {mib} MiB: {ms:.1} ms, {:.0} MiB/s", total as f64 / ms * 1000.0);
}

fn readers(n: usize, mib: usize, path: String) {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let path = path.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                let (mut left, mut sum) = (mib << 20, 0u64);
                while left > 0 {
                    let mut f = fs::File::open(&path).unwrap();
                    loop {
                        let k = f.read(&mut buf[..(64 << 10).min(left)]).unwrap();
                        if k == 0 {
                            break;
                        }
                        // Light enough not to hide the reads: every 512th byte.
                        sum = buf[..k]
                            .iter()
                            .step_by(512)
                            .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
                        left -= k;
                        if left == 0 {
                            break;
                        }
                    }
                }
                sum
            })
        })
        .collect();
    let sums: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let total = n * mib;
    println!(
        "readers {n} x {mib} MiB: {ms:.1} ms, {:.0} MiB/s, checksums agree: {}, first {:x}",
        total as f64 / ms * 1000.0,
        sums.windows(2).all(|w| w[0] == w[1]),
        sums[0]
    );
}

/// Run with the preopen `box` only (its parent holds `secret`): every way out must fail.
fn escape(iters: usize) {
    let _ = fs::create_dir_all("box/a/b");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // fd 3: the preopen `box`.
                let _ = path_symlink(b"../../..", 3, b"a/l");
                let _ = fs::rename("box/a/b", "box/c");
                let _ = fs::remove_file("box/a/l");
                let _ = path_symlink(b"..", 3, b"a/b");
                let _ = fs::remove_file("box/a/b");
                let _ = fs::rename("box/c", "box/a/b");
                k += 1;
            }
            k
        })
    };
    let mut escaped = 0;
    let paths = ["box/a/l/secret", "box/a/b/../../../secret", "box/a/b/../../secret", "box/c/../../secret"];
    for i in 0..iters {
        if fs::read("box/../secret").is_ok() || fs::read(paths[i % paths.len()]).is_ok() {
            escaped += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    println!("escape: {iters} tries, {escaped} got out, swapper ran: {}", swaps > 0);
}

fn efault(iters: usize) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let grower = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut keep: Vec<Vec<u8>> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && keep.len() < 64 {
                keep.push(vec![1u8; 1 << 20]);
            }
            keep.len()
        })
    };
    let out = fs::File::create("/tmp/efault.out").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&out) as u32;
    let (mut faults, mut ok, mut other) = (0, 0, 0);
    for _ in 0..iters {
        // A buffer that starts inside memory and runs past its current end.
        let end = core::arch::wasm32::memory_size(0) * 65536;
        let iov = [wasi::Ciovec {
            buf: (end - 8) as *const u8,
            buf_len: 4096,
        }];
        // SAFETY (of the guest's side): the host only reads the range, and must refuse
        // whatever of it lies outside memory.
        match unsafe { wasi::fd_write(fd, &iov) } {
            Err(wasi::ERRNO_FAULT) => faults += 1,
            // Memory grew past the buffer between the size check and the call.
            Ok(_) => ok += 1,
            Err(_) => other += 1,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    grower.join().unwrap();
    println!(
        "efault: {} calls, EFAULT seen: {}, other errors {other}",
        faults + ok,
        faults > 0
    );
}
