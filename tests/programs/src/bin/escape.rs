//! Adversarial: tries to leave the preopen. See README.md for the required layout: fd 3 is the
//! directory `jail`, whose parent also holds `secret/key.txt`; `jail` holds three symlinks made by
//! the runner: `abs_root -> /`, `abs_passwd -> /etc/passwd`, `abs_secret -> /secret/key.txt`.
//! Every escape attempt must fail with EPERM and leave nothing behind. No args.

use strata_test_programs::*;

const D: Fd = PREOPEN;

fn main() {
    require_scratch();
    layout();
    dotdot();
    absolute();
    symlinks();
    host_symlinks();
    loops();
    dotdot_after_symlink();
    create_through_symlink();
    links_and_renames();
    other_calls();
    sub_fd();
    bad_bytes();
    long_names();
    bad_fds();
    rights();
    // nothing the guest did may have left a trace outside: the jail holds only what it made
    expect_eq(
        "jail listing",
        names(D, b"."),
        Ok(["a", "abs_passwd", "abs_root", "abs_secret", "chain", "f", "l1", "link", "sub", "up"].iter().map(|s| s.to_string()).collect()),
    );
    all_ok();
}

fn layout() {
    for (name, target) in [("abs_root", "/"), ("abs_passwd", "/etc/passwd"), ("abs_secret", "/secret/key.txt")] {
        match path_filestat_get(D, NOFOLLOW, name.as_bytes()) {
            Ok(st) if st.filetype == FT_SYMLINK && st.size == target.len() as u64 => {}
            other => fail(&format!("setup: {name} -> {target}"), "the runner-made symlink", show(&other)),
        }
    }
    must("mkdir a", path_create_directory(D, b"a"));
    must("mkdir a/b", path_create_directory(D, b"a/b"));
    must("write f", write_file(D, b"f", b"top-f"));
    must("write a/f", write_file(D, b"a/f", b"a-f"));
    ok("layout");
}

fn dotdot() {
    for p in [&b".."[..], b"../", b"../.", b"../secret", b"../secret/key.txt", b"../jail", b"../jail/f", b"a/../..", b"a/../../secret/key.txt", b"a/../../jail/f", b"a/b/../../../secret/key.txt", b"./../secret/key.txt", b"a/b/../../.."] {
        let case = format!("open {}", String::from_utf8_lossy(p));
        expect_err(&case, open(D, p, 0, 0), PERM);
    }
    expect_err("open dir ..", open_dir(D, b".."), PERM);
    expect_err("creat ../new", open(D, b"../new", O_CREAT, 0), PERM);
    expect_err("creat a/../../new", open(D, b"a/../../new", O_CREAT, 0), PERM);
    expect_err("creat ../jail/new", open(D, b"../jail/new", O_CREAT, 0), PERM);
    expect_err("re-entering creates nothing", path_filestat_get(D, NOFOLLOW, b"new"), NOENT);
    let fd = expect_ok("a/.. stays inside", open(D, b"a/../f", 0, 0));
    must("close", fd_close(fd));
    let fd = expect_ok("a/.//b/../b///./.. is inside", open_dir(D, b"a/.//b/../b///./.."));
    must("close", fd_close(fd));
}

fn absolute() {
    for p in [&b"/"[..], b"/etc/passwd", b"/secret/key.txt", b"/jail/f", b"//f", b"/."] {
        let case = format!("open {}", String::from_utf8_lossy(p));
        expect_err(&case, open(D, p, 0, 0), PERM);
    }
    expect_err("creat /new", open(D, b"/new", O_CREAT, 0), PERM);
    expect_err("mkdir /newdir", path_create_directory(D, b"/newdir"), PERM);
    expect_err("filestat /", path_filestat_get(D, FOLLOW, b"/"), PERM);
}

fn symlinks() {
    expect_ok("symlink up -> ..", path_symlink(b"..", D, b"up"));
    for p in [&b"up"[..], b"up/", b"up/.", b"up/secret/key.txt", b"up/jail/f", b"a/../up/secret"] {
        let case = format!("open {}", String::from_utf8_lossy(p));
        expect_err(&case, open(D, p, 0, 0), PERM);
    }
    expect_err("open dir up", open_dir(D, b"up"), PERM);
    expect_err("filestat follow up", path_filestat_get(D, FOLLOW, b"up"), PERM);
    expect_eq("filestat nofollow up is the link", path_filestat_get(D, NOFOLLOW, b"up").map(|s| s.filetype), Ok(FT_SYMLINK));
    expect_err("symlink -> /", path_symlink(b"/", D, b"abs"), PERM);
    expect_err("symlink -> /etc/passwd", path_symlink(b"/etc/passwd", D, b"abs"), PERM);
    expect_err("absolute symlink not created", path_filestat_get(D, NOFOLLOW, b"abs"), NOENT);
    // escape only visible after two expansions: l1 -> sub, sub/l2 -> ../../secret
    must("mkdir sub", path_create_directory(D, b"sub"));
    must("symlink l1 -> sub", path_symlink(b"sub", D, b"l1"));
    must("symlink sub/l2 -> ../../secret", path_symlink(b"../../secret", D, b"sub/l2"));
    expect_err("open l1/l2/key.txt", open(D, b"l1/l2/key.txt", 0, 0), PERM);
    expect_err("open l1/l2", open_dir(D, b"l1/l2"), PERM);
    must("symlink sub/in -> ../a", path_symlink(b"../a", D, b"sub/in"));
    let fd = expect_ok("open l1/in/f (inside)", open(D, b"l1/in/f", 0, 0));
    must("close", fd_close(fd));
}

fn host_symlinks() {
    for p in [&b"abs_root"[..], b"abs_root/", b"abs_root/etc/passwd", b"abs_root/secret/key.txt", b"abs_passwd", b"abs_secret"] {
        let case = format!("open {}", String::from_utf8_lossy(p));
        expect_err(&case, open(D, p, 0, 0), PERM);
    }
    // reading the text of an absolute symlink is harmless; wasmtime (cap-std) refuses with EPERM
    let mut buf = [0u8; 64];
    let r = path_readlink(D, b"abs_passwd", &mut buf).map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    expect_wt("readlink abs_passwd", r, Ok("/etc/passwd".to_string()), Err(PERM));
    expect_err("filestat follow abs_passwd", path_filestat_get(D, FOLLOW, b"abs_passwd"), PERM);
    expect_eq("filestat nofollow abs_passwd", path_filestat_get(D, NOFOLLOW, b"abs_passwd").map(|s| s.filetype), Ok(FT_SYMLINK));
    expect_err("open nofollow abs_passwd", path_open(D, NOFOLLOW, b"abs_passwd", 0, R_FD_READ, 0, 0), LOOP);
    expect_err("creat through abs_secret", open(D, b"abs_secret", O_CREAT, 0), PERM);
    expect_err("mkdir through abs_root", path_create_directory(D, b"abs_root/newdir"), PERM);
}

fn loops() {
    must("symlink self", path_symlink(b"self", D, b"self"));
    must("symlink la -> lb", path_symlink(b"lb", D, b"la"));
    must("symlink lb -> la", path_symlink(b"la", D, b"lb"));
    expect_err("self loop", open(D, b"self", 0, 0), LOOP);
    expect_err("2-cycle", open(D, b"la", 0, 0), LOOP);
    expect_err("2-cycle in the middle", open(D, b"la/x", 0, 0), LOOP);
    // chains: c0 -> c1 -> ... -> cN -> f; 8 links resolve, 41 are too many (Linux and cap-std
    // allow 40 expansions)
    must("mkdir chain", path_create_directory(D, b"chain"));
    must("write chain/end", write_file(D, b"chain/end", b"end"));
    for i in 0..41 {
        let next = if i == 40 { "end".to_string() } else { format!("c{}", i + 1) };
        must("chain link", path_symlink(next.as_bytes(), D, format!("chain/c{i}").as_bytes()));
    }
    expect_eq("chain of 8 resolves", read_file(D, b"chain/c33"), Ok(b"end".to_vec()));
    expect_eq("chain of 40 resolves", read_file(D, b"chain/c1"), Ok(b"end".to_vec()));
    expect_err("chain of 41 is a loop", open(D, b"chain/c0", 0, 0), LOOP);
    for p in [&b"self"[..], b"la", b"lb"] {
        must("unlink loop", path_unlink_file(D, p));
    }
}

fn dotdot_after_symlink() {
    // link -> a/b: "link/.." is a (physical), not "." (lexical)
    must("symlink link -> a/b", path_symlink(b"a/b", D, b"link"));
    expect_eq("link/../f is a/f", read_file(D, b"link/../f"), Ok(b"a-f".to_vec()));
    expect_eq("link/../../f is f", read_file(D, b"link/../../f"), Ok(b"top-f".to_vec()));
    expect_err("link/../../../secret/key.txt", open(D, b"link/../../../secret/key.txt", 0, 0), PERM);
}

fn create_through_symlink() {
    must("symlink out -> ../secret/new", path_symlink(b"../secret/new", D, b"out"));
    expect_err("creat through out", open(D, b"out", O_CREAT, 0), PERM);
    expect_err("creat excl through out", open(D, b"out", O_CREAT | O_EXCL, 0), EXIST);
    must("symlink reenter -> ../jail/new2", path_symlink(b"../jail/new2", D, b"reenter"));
    expect_err("creat through reenter", open(D, b"reenter", O_CREAT, 0), PERM);
    expect_err("reenter created nothing", path_filestat_get(D, NOFOLLOW, b"new2"), NOENT);
    must("symlink upnew -> up/new3", path_symlink(b"up/new3", D, b"upnew"));
    expect_err("creat through up/new3", open(D, b"upnew", O_CREAT, 0), PERM);
    expect_err("mkdir through up", path_create_directory(D, b"up/newdir"), PERM);
    for p in [&b"out"[..], b"reenter", b"upnew"] {
        must("unlink", path_unlink_file(D, p));
    }
}

fn links_and_renames() {
    expect_err("link f -> ../stolen", path_link(D, NOFOLLOW, b"f", D, b"../stolen"), PERM);
    expect_err("link ../secret/key.txt -> here", path_link(D, NOFOLLOW, b"../secret/key.txt", D, b"here"), PERM);
    expect_err("link up/secret/key.txt -> here", path_link(D, NOFOLLOW, b"up/secret/key.txt", D, b"here"), PERM);
    expect_err("link f -> up/stolen", path_link(D, NOFOLLOW, b"f", D, b"up/stolen"), PERM);
    expect_err("link f -> /stolen", path_link(D, NOFOLLOW, b"f", D, b"/stolen"), PERM);
    expect_err("rename f -> ../moved", path_rename(D, b"f", D, b"../moved"), PERM);
    expect_err("rename f -> up/moved", path_rename(D, b"f", D, b"up/moved"), PERM);
    expect_err("rename a -> ../a", path_rename(D, b"a", D, b"../a"), PERM);
    expect_err("rename ../secret/key.txt -> here", path_rename(D, b"../secret/key.txt", D, b"here"), PERM);
    expect_err("rename ../secret -> here", path_rename(D, b"../secret", D, b"here"), PERM);
    expect_err("rename f -> /moved", path_rename(D, b"f", D, b"/moved"), PERM);
    expect_eq("f still there", read_file(D, b"f"), Ok(b"top-f".to_vec()));
    expect_err("here not created", path_filestat_get(D, NOFOLLOW, b"here"), NOENT);
}

fn other_calls() {
    expect_err("mkdir ..", path_create_directory(D, b".."), PERM);
    expect_err("mkdir ../x", path_create_directory(D, b"../x"), PERM);
    expect_err("rmdir ..", path_remove_directory(D, b".."), PERM);
    expect_err("rmdir ../secret", path_remove_directory(D, b"../secret"), PERM);
    expect_err("unlink ../secret/key.txt", path_unlink_file(D, b"../secret/key.txt"), PERM);
    expect_err("unlink up/secret/key.txt", path_unlink_file(D, b"up/secret/key.txt"), PERM);
    expect_err("filestat ../secret/key.txt", path_filestat_get(D, NOFOLLOW, b"../secret/key.txt"), PERM);
    expect_err("filestat ..", path_filestat_get(D, NOFOLLOW, b".."), PERM);
    expect_err("set_times ../secret/key.txt", path_filestat_set_times(D, NOFOLLOW, b"../secret/key.txt", 0, 0, FST_MTIM_NOW), PERM);
    expect_err("readlink ../x", path_readlink(D, b"../x", &mut [0u8; 16]), PERM);
    expect_err("symlink at ../sl", path_symlink(b"f", D, b"../sl"), PERM);
    expect_err("readdir of ..", open_dir(D, b"..").and_then(|fd| fd_readdir(fd, &mut [0u8; 64], 0)), PERM);
}

/// Every directory fd is a sandbox of its own: `..` above a subdirectory fd is an escape too.
fn sub_fd() {
    let a = must("open a", open_dir(D, b"a"));
    expect_err("sub fd ../f", open(a, b"../f", 0, 0), PERM);
    expect_err("sub fd ..", open_dir(a, b".."), PERM);
    expect_err("sub fd b/../../f", open(a, b"b/../../f", 0, 0), PERM);
    expect_err("sub fd creat ../new", open(a, b"../new", O_CREAT, 0), PERM);
    must("symlink a/b/toa -> ..", path_symlink(b"..", D, b"a/b/toa"));
    let fd = expect_ok("sub fd b/toa/f (inside)", open(a, b"b/toa/f", 0, 0));
    must("close", fd_close(fd));
    must("symlink a/b/totop -> ../..", path_symlink(b"../..", D, b"a/b/totop"));
    expect_err("sub fd b/totop/f", open(a, b"b/totop/f", 0, 0), PERM);
    let fd = expect_ok("same path from the preopen is inside", open(D, b"a/b/totop/f", 0, 0));
    must("close", fd_close(fd));
    must("close a", fd_close(a));
    must("unlink toa", path_unlink_file(D, b"a/b/toa"));
    must("unlink totop", path_unlink_file(D, b"a/b/totop"));
}

fn bad_bytes() {
    expect_err("open f\\0", open(D, b"f\0", 0, 0), INVAL);
    expect_err("open a\\0/f", open(D, b"a\0/f", 0, 0), INVAL);
    expect_err("creat n\\0ul", open(D, b"n\0ul", O_CREAT, 0), INVAL);
    expect_err("mkdir n\\0ul", path_create_directory(D, b"n\0ul"), INVAL);
    expect_err("symlink target with NUL", path_symlink(b"f\0x", D, b"nulsym"), INVAL);
    expect_err("open \\xff", open(D, b"\xff", 0, 0), ILSEQ);
    expect_err("creat \\xff", open(D, b"\xff", O_CREAT, 0), ILSEQ);
    expect_err("creat \\xfe", open(D, b"\xfe", O_CREAT, 0), ILSEQ);
    expect_err("mkdir a/\\xc3", path_create_directory(D, b"a/\xc3"), ILSEQ);
    expect_err("symlink target \\xff", path_symlink(b"\xff", D, b"badsym"), ILSEQ);
    expect_err("rename to \\xff", path_rename(D, b"f", D, b"\xff"), ILSEQ);
    expect_err("overlong UTF-8 slash", open(D, b"a\xc0\xafb", 0, 0), ILSEQ);
    expect_err("UTF-16 surrogate", open(D, b"\xed\xa0\x80", O_CREAT, 0), ILSEQ);
}

fn long_names() {
    let c255 = vec![b'n'; 255];
    let fd = expect_ok("creat 255-byte name", open(D, &c255, O_CREAT, 0));
    must("close", fd_close(fd));
    must("unlink 255", path_unlink_file(D, &c255));
    let c256 = vec![b'n'; 256];
    expect_err("creat 256-byte name", open(D, &c256, O_CREAT, 0), NAMETOOLONG);
    expect_err("mkdir 256-byte name", path_create_directory(D, &c256), NAMETOOLONG);
    expect_err("open 256-byte name", open(D, &c256, 0, 0), NAMETOOLONG);
    // 4096+ bytes of path made of short components that all exist ("a/./././...")
    let mut long = b"a".to_vec();
    while long.len() < 4100 {
        long.extend_from_slice(b"/.");
    }
    long.extend_from_slice(b"/f");
    expect_err("open path of 4100+ bytes", open(D, &long, 0, 0), NAMETOOLONG);
    expect_err("creat path of 4100+ bytes", open(D, &[&long[..long.len() - 1], b"g"].concat(), O_CREAT, 0), NAMETOOLONG);
    let target = vec![b'x'; 4097];
    expect_err("symlink target of 4097 bytes", path_symlink(&target, D, b"longsym"), NAMETOOLONG);
    expect_err("nothing left behind", path_filestat_get(D, NOFOLLOW, b"longsym"), NOENT);
}

fn bad_fds() {
    expect_err("open on forged fd", open(4242, b"f", 0, 0), BADF);
    expect_err("open on fd -1", open(u32::MAX, b"f", 0, 0), BADF);
    let a = must("open a", open_dir(D, b"a"));
    must("close a", fd_close(a));
    expect_err("open on closed dir fd", open(a, b"f", 0, 0), BADF);
    expect_err("mkdir on closed dir fd", path_create_directory(a, b"x"), BADF);
    let f = must("open f", open(D, b"f", 0, 0));
    expect_err("open on a file fd", open(f, b"x", 0, 0), NOTDIR);
    // POSIX mkdirat with a file fd: ENOTDIR; wasmtime: EBADF (but ENOTDIR for path_open)
    expect_err_wt("mkdir on a file fd", path_create_directory(f, b"x"), NOTDIR, BADF);
    must("close f", fd_close(f));
    expect_err_wt("open on stdout", open(1, b"f", 0, 0), NOTDIR, BADF);
}

/// Rights: wasmtime ignores them (fd_fdstat_set_rights returns NOTSUP); strata enforces them with
/// ENOTCAPABLE. Both print the same lines; WASI_STRICT=1 requires enforcement.
fn rights() {
    let dir = must("open a", open_dir(D, b"a"));
    let keep = R_PATH_OPEN | R_FD_READ | R_FD_READDIR | R_FD_FILESTAT_GET;
    match fd_fdstat_set_rights(dir, keep, R_FD_READ | R_FD_SEEK) {
        Err(NOTSUP) if !strict() => {
            for c in ["rights: drop", "rights: creat without PATH_CREATE_FILE", "rights: mkdir without PATH_CREATE_DIRECTORY", "rights: open for write beyond inheriting", "rights: read-only open allowed", "rights: inherited rights of the opened file", "rights: regain"] {
                not_checked(c);
            }
        }
        r => {
            expect_eq("rights: drop", r, Ok(()));
            expect_err("rights: creat without PATH_CREATE_FILE", open(dir, b"new", O_CREAT, 0), NOTCAPABLE);
            expect_err("rights: mkdir without PATH_CREATE_DIRECTORY", path_create_directory(dir, b"nd"), NOTCAPABLE);
            // asking for more than the directory hands down either fails or yields an fd
            // without the extra right; either way nothing can be written
            match path_open(dir, FOLLOW, b"f", 0, R_FD_READ | R_FD_WRITE, 0, 0) {
                Err(NOTCAPABLE) => ok("rights: open for write beyond inheriting"),
                Ok(fd) => {
                    let st = must("fdstat", fd_fdstat_get(fd));
                    let w = fd_write(fd, &[b"x"]);
                    let denied = matches!(w, Err(NOTCAPABLE) | Err(BADF));
                    expect_true(
                        "rights: open for write beyond inheriting",
                        st.base & R_FD_WRITE == 0 && denied,
                        "no FD_WRITE right and fd_write denied",
                        (st.base, show(&w)),
                    );
                    must("close", fd_close(fd));
                }
                other => soft_fail("rights: open for write beyond inheriting", "Err(NOTCAPABLE) or a read-only fd", show(&other)),
            }
            let fd = expect_ok("rights: read-only open allowed", path_open(dir, FOLLOW, b"f", 0, R_FD_READ, 0, 0));
            let st = must("fdstat", fd_fdstat_get(fd));
            expect_eq("rights: inherited rights of the opened file", st.base & !(R_FD_READ | R_FD_SEEK), 0);
            must("close", fd_close(fd));
            expect_err("rights: regain", fd_fdstat_set_rights(dir, R_ALL, R_ALL), NOTCAPABLE);
        }
    }
    must("close a", fd_close(dir));
}
