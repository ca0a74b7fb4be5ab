//! fd_readdir with cookies. Scratch dir = fd 3 (empty, writable). No args.

use strata_test_programs::*;

const D: Fd = PREOPEN;

fn main() {
    require_scratch();
    empty_dir();
    types_and_inodes();
    resume();
    small_buffers();
    stable_cookies();
    thousand();
    errors();
    all_ok();
}

fn sorted_names(ents: &[Dirent]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = ents.iter().map(|e| e.name.clone()).collect();
    v.sort();
    v
}

fn bytes_list(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn empty_dir() {
    must("mkdir e", path_create_directory(D, b"e"));
    let fd = must("open e", open_dir(D, b"e"));
    let ents = expect_ok("readdir empty dir", list_dir(fd, 4096));
    expect_eq("empty dir has . and ..", sorted_names(&ents), bytes_list(&[".", ".."]));
    expect_true("dot entries are dirs", ents.iter().all(|e| e.filetype == FT_DIR), "DIRECTORY", &ents);
    let dot = ents.iter().find(|e| e.name == b".").unwrap();
    let st = must("stat e", fd_filestat_get(fd));
    expect_eq("dot inode", dot.ino, st.ino);
    must("close", fd_close(fd));
    let ents = expect_ok("readdir preopen", list_dir(D, 4096));
    expect_eq("preopen listing", sorted_names(&ents), bytes_list(&[".", "..", "e"]));
}

fn types_and_inodes() {
    must("mkdir t", path_create_directory(D, b"t"));
    must("file", write_file(D, b"t/file", b"x"));
    must("subdir", path_create_directory(D, b"t/sub"));
    must("symlink", path_symlink(b"file", D, b"t/link"));
    let fd = must("open t", open_dir(D, b"t"));
    let ents = expect_ok("readdir types", list_dir(fd, 4096));
    expect_eq("names", sorted_names(&ents), bytes_list(&[".", "..", "file", "link", "sub"]));
    for (name, ft) in [("file", FT_FILE), ("sub", FT_DIR), ("link", FT_SYMLINK)] {
        let e = ents.iter().find(|e| e.name == name.as_bytes()).unwrap();
        expect_eq(&format!("type of {name}"), e.filetype, ft);
        let path = format!("t/{name}");
        let st = must("lstat", path_filestat_get(D, NOFOLLOW, path.as_bytes()));
        expect_eq(&format!("inode of {name}"), e.ino, st.ino);
    }
    let mut cookies: Vec<u64> = ents.iter().map(|e| e.next).collect();
    cookies.sort();
    cookies.dedup();
    expect_eq("cookies are distinct", cookies.len(), ents.len());
    expect_true("no entry has cookie 0 as d_next", !cookies.contains(&0), "d_next != 0", &cookies);
    must("close", fd_close(fd));
}

fn make_files(dir: &[u8], n: usize) {
    for i in 0..n {
        let p = format!("{}/n{i:04}", String::from_utf8_lossy(dir));
        must("create", write_file(D, p.as_bytes(), b""));
    }
}

fn resume() {
    must("mkdir r", path_create_directory(D, b"r"));
    make_files(b"r", 10);
    let fd = must("open r", open_dir(D, b"r"));
    let all = must("list r", list_dir(fd, 4096));
    expect_eq("listing size", all.len(), 12);
    for k in [0usize, 1, 3, 11] {
        let cookie = all[k].next;
        let mut buf = vec![0u8; 4096];
        let n = must("readdir from cookie", fd_readdir(fd, &mut buf, cookie));
        let (tail, truncated) = parse_dirents(&buf[..n]);
        expect_eq(&format!("resume after entry {k}"), (tail, truncated), (all[k + 1..].to_vec(), false));
    }
    let again = must("list again", list_dir(fd, 4096));
    expect_eq("cookie 0 restarts", again, all.clone());
    // the same listing through a second fd on the same directory
    let fd2 = must("open r again", open_dir(D, b"r"));
    expect_eq("second fd same listing", must("list fd2", list_dir(fd2, 4096)), all);
    must("close", fd_close(fd2));
    must("close", fd_close(fd));
}

fn small_buffers() {
    let fd = must("open r", open_dir(D, b"r"));
    let mut full = vec![0u8; 4096];
    let n = must("readdir full", fd_readdir(fd, &mut full, 0));
    full.truncate(n);
    let (all, _) = parse_dirents(&full);
    // smaller than a dirent header: the buffer is filled with the first bytes and bufused equals
    // the buffer size, so the caller knows to retry with a bigger buffer and the same cookie
    for len in [1usize, 10, 23, 24, 25] {
        let mut buf = vec![0u8; len];
        let got = fd_readdir(fd, &mut buf, 0);
        expect_eq(&format!("buffer of {len} bytes is filled"), got, Ok(len));
        expect_eq(&format!("buffer of {len} bytes holds the first bytes"), &buf[..], &full[..len]);
    }
    // one and a half entries
    let first = 24 + all[0].name.len();
    let second = 24 + all[1].name.len();
    let len = first + second / 2;
    let mut buf = vec![0u8; len];
    expect_eq("one and a half entries", fd_readdir(fd, &mut buf, 0), Ok(len));
    let (ents, truncated) = parse_dirents(&buf);
    expect_eq("one complete entry then a truncated one", (ents, truncated), (vec![all[0].clone()], true));
    expect_eq("truncated entry bytes", &buf[..], &full[..len]);
    // walking with a buffer that holds exactly one entry (all names here are 5 bytes, "." and
    // ".." shorter) gives the same listing
    let mut walked = Vec::new();
    let mut cookie = 0;
    let mut buf = vec![0u8; 24 + 5];
    loop {
        let n = must("walk", fd_readdir(fd, &mut buf, cookie));
        let (ents, _) = parse_dirents(&buf[..n]);
        if ents.is_empty() {
            break;
        }
        cookie = ents.last().unwrap().next;
        walked.extend(ents);
        if walked.len() > 100 {
            fail("walk one entry per call", "termination", walked.len());
        }
    }
    expect_eq("walk one entry per call", walked, all);
    must("close", fd_close(fd));
}

/// Entries present throughout a listing appear exactly once even when other entries are added
/// and removed between two fd_readdir calls. wasmtime's cookies are positions in a fresh host
/// listing, so this is only checked with WASI_STRICT=1.
fn stable_cookies() {
    must("mkdir s", path_create_directory(D, b"s"));
    make_files(b"s", 20);
    strict_only("stable cookies across changes", |case| {
        let fd = must("open s", open_dir(D, b"s"));
        let mut buf = vec![0u8; 24 * 8 + 5 * 8];
        let n = must("first batch", fd_readdir(fd, &mut buf, 0));
        let (first, _) = parse_dirents(&buf[..n]);
        let cookie = first.last().unwrap().next;
        let seen: Vec<Vec<u8>> = first.iter().map(|e| e.name.clone()).collect();
        // remove two entries already seen and two not yet seen, add three
        let mut removed = Vec::new();
        for e in first.iter().filter(|e| e.name.starts_with(b"n")).take(2) {
            removed.push(e.name.clone());
        }
        let all = names(D, b"s").unwrap();
        for name in all.iter().rev().filter(|n| !seen.contains(&n.as_bytes().to_vec())).take(2) {
            removed.push(name.as_bytes().to_vec());
        }
        for name in &removed {
            let p = [b"s/".as_slice(), name].concat();
            must("unlink", path_unlink_file(D, &p));
        }
        for name in ["added1", "added2", "added3"] {
            must("add", write_file(D, format!("s/{name}").as_bytes(), b""));
        }
        let mut rest = Vec::new();
        let mut c = cookie;
        let mut big = vec![0u8; 4096];
        loop {
            let n = must("resume", fd_readdir(fd, &mut big, c));
            let (ents, _) = parse_dirents(&big[..n]);
            if ents.is_empty() {
                break;
            }
            c = ents.last().unwrap().next;
            rest.extend(ents.into_iter().map(|e| e.name));
            if n < big.len() {
                break;
            }
        }
        let mut union: Vec<Vec<u8>> = seen.iter().cloned().chain(rest.iter().cloned()).collect();
        union.sort();
        for name in [&b"."[..], b".."].iter().map(|n| n.to_vec()).chain((0..20).map(|i| format!("n{i:04}").into_bytes())) {
            if removed.contains(&name) {
                continue;
            }
            let count = union.iter().filter(|n| **n == name).count();
            if count != 1 {
                fail(case, format!("{} once", String::from_utf8_lossy(&name)), format!("{count} times"));
            }
        }
        for name in &removed {
            if rest.contains(name) {
                fail(case, "removed entry not listed after removal", String::from_utf8_lossy(name));
            }
        }
        must("close", fd_close(fd));
        ok(case);
    });
}

fn thousand() {
    must("mkdir k", path_create_directory(D, b"k"));
    make_files(b"k", 1000);
    let fd = must("open k", open_dir(D, b"k"));
    let ents = expect_ok("readdir 1000 files", list_dir(fd, 4096));
    let mut expected: Vec<Vec<u8>> = (0..1000).map(|i| format!("n{i:04}").into_bytes()).collect();
    expected.push(b".".to_vec());
    expected.push(b"..".to_vec());
    expected.sort();
    expect_eq("1000 files listed once each", sorted_names(&ents), expected.clone());
    let small = expect_ok("readdir 1000 files small buffer", list_dir(fd, 300));
    expect_eq("small buffer listing", sorted_names(&small), expected);
    let last = ents.last().unwrap().next;
    expect_eq("cookie of last entry gives nothing", fd_readdir(fd, &mut [0u8; 256], last), Ok(0));
    must("close", fd_close(fd));
}

fn errors() {
    must("file", write_file(D, b"plain", b""));
    let f = must("open plain", open(D, b"plain", 0, 0));
    // POSIX getdents(2) on a file: ENOTDIR; wasmtime: EBADF
    expect_err_wt("readdir on a file", fd_readdir(f, &mut [0u8; 64], 0), NOTDIR, BADF);
    must("close", fd_close(f));
    expect_err("readdir on forged fd", fd_readdir(4242, &mut [0u8; 64], 0), BADF);
    expect_err("readdir on closed fd", fd_readdir(f, &mut [0u8; 64], 0), BADF);
    let fd = must("open e", open_dir(D, b"e"));
    expect_eq("readdir zero-size buffer", fd_readdir(fd, &mut [], 0), Ok(0));
    must("close", fd_close(fd));
}
