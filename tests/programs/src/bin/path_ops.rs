//! The path_* family. Scratch dir = fd 3 (empty, writable). No args.

use strata_test_programs::*;

const D: Fd = PREOPEN;

fn main() {
    require_scratch();
    open_flags();
    symlink_follow();
    mkdir_rmdir();
    unlink();
    rename();
    link();
    symlink_readlink();
    filestat();
    set_times();
    trailing_slash();
    loops_and_empty();
    expect_eq("final listing", names(D, b"."), Ok(strs(&["dir", "f", "g", "loop1", "loop2", "rn", "self", "sl", "sldir", "t"])));
    all_ok();
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn file_size(path: &[u8]) -> R<u64> {
    path_filestat_get(D, NOFOLLOW, path).map(|s| s.size)
}

fn open_flags() {
    expect_err("open missing", open(D, b"f", 0, 0), NOENT);
    let fd = expect_ok("open creat", open(D, b"f", O_CREAT, 0));
    expect_eq("created file is empty", fd_filestat_get(fd).map(|s| (s.filetype, s.size)), Ok((FT_FILE, 0)));
    must("write f", fd_write(fd, &[b"hello"]));
    must("close f", fd_close(fd));
    let fd = expect_ok("open creat existing", open(D, b"f", O_CREAT, 0));
    expect_eq("creat keeps content", fd_filestat_get(fd).map(|s| s.size), Ok(5));
    must("close", fd_close(fd));
    expect_err("open creat excl existing", open(D, b"f", O_CREAT | O_EXCL, 0), EXIST);
    let fd = expect_ok("open creat excl new", open(D, b"g", O_CREAT | O_EXCL, 0));
    must("write g", fd_write(fd, &[b"0123456789"]));
    must("close", fd_close(fd));
    let fd = expect_ok("open trunc", open(D, b"g", O_TRUNC, 0));
    expect_eq("trunc empties", fd_filestat_get(fd).map(|s| s.size), Ok(0));
    must("close", fd_close(fd));
    expect_err("open directory flag on file", open(D, b"f", O_DIRECTORY, 0), NOTDIR);
    must("mkdir dir", path_create_directory(D, b"dir"));
    let fd = expect_ok("open directory flag on dir", open_dir(D, b"dir"));
    expect_eq("dir fd type", fd_fdstat_get(fd).map(|s| s.filetype), Ok(FT_DIR));
    must("close", fd_close(fd));
    let fd = expect_ok("open dir without directory flag", path_open(D, FOLLOW, b"dir", 0, R_DIR, R_ALL, 0));
    expect_eq("dir fd type without flag", fd_fdstat_get(fd).map(|s| s.filetype), Ok(FT_DIR));
    must("close", fd_close(fd));
    expect_err("open dir for writing", path_open(D, FOLLOW, b"dir", 0, R_FD_READ | R_FD_WRITE, 0, 0), ISDIR);
    expect_err("open dir with trunc", path_open(D, FOLLOW, b"dir", O_TRUNC, R_DIR, R_ALL, 0), ISDIR);
    expect_err("open creat dir", path_open(D, FOLLOW, b"dir", O_CREAT, R_DIR, R_ALL, 0), ISDIR);
    expect_err("open creat in missing dir", open(D, b"nodir/x", O_CREAT, 0), NOENT);
    expect_err("open creat under a file", open(D, b"f/x", O_CREAT, 0), NOTDIR);
    expect_err("open creat|directory", path_open(D, FOLLOW, b"newdir", O_CREAT | O_DIRECTORY, R_DIR, R_ALL, 0), INVAL);
    expect_err("open creat|directory creates nothing", file_size(b"newdir"), NOENT);
    let fd = expect_ok("open dot", open_dir(D, b"."));
    must("close", fd_close(fd));
    let fd = expect_ok("open dir/..", open_dir(D, b"dir/.."));
    must("close", fd_close(fd));
    let fd = expect_ok("open with dots and slashes", open(D, b"./dir/..//f", 0, 0));
    expect_eq("dots and slashes reach f", fd_filestat_get(fd).map(|s| s.size), Ok(5));
    must("close", fd_close(fd));
    // opening relative to a subdirectory fd
    let dfd = must("open dir", open_dir(D, b"dir"));
    let fd = expect_ok("open creat via subdir fd", open(dfd, b"inner", O_CREAT, 0));
    must("close", fd_close(fd));
    expect_eq("created via subdir fd", file_size(b"dir/inner"), Ok(0));
    expect_err("open from file fd", open(must("open f", open(D, b"f", 0, 0)), b"x", 0, 0), NOTDIR);
    must("unlink inner", path_unlink_file(dfd, b"inner"));
    must("close", fd_close(dfd));
}

fn symlink_follow() {
    must("write t", write_file(D, b"t", b"target"));
    must("symlink sl -> t", path_symlink(b"t", D, b"sl"));
    must("symlink sldir -> dir", path_symlink(b"dir", D, b"sldir"));
    let fd = expect_ok("open symlink follow", open(D, b"sl", 0, 0));
    expect_eq("follow reaches target", fd_filestat_get(fd).map(|s| (s.filetype, s.size)), Ok((FT_FILE, 6)));
    must("close", fd_close(fd));
    expect_err("open symlink nofollow", path_open(D, NOFOLLOW, b"sl", 0, R_FD_READ, 0, 0), LOOP);
    expect_err("open symlink nofollow directory", path_open(D, NOFOLLOW, b"sldir", O_DIRECTORY, R_DIR, 0, 0), LOOP);
    let fd = expect_ok("symlink in the middle is followed with nofollow", path_open(D, NOFOLLOW, b"sldir/..", O_DIRECTORY, R_DIR, 0, 0));
    must("close", fd_close(fd));
    must("write dir/x", write_file(D, b"dir/x", b"xx"));
    let fd = expect_ok("open through dir symlink nofollow", path_open(D, NOFOLLOW, b"sldir/x", 0, R_FD_READ, 0, 0));
    must("close", fd_close(fd));
    // dangling symlink: creat creates the target (POSIX), excl refuses
    must("symlink dang -> dtarget", path_symlink(b"dtarget", D, b"dang"));
    expect_err("open dangling", open(D, b"dang", 0, 0), NOENT);
    expect_err("open dangling creat excl", open(D, b"dang", O_CREAT | O_EXCL, 0), EXIST);
    let fd = expect_ok("open dangling creat", open(D, b"dang", O_CREAT, 0));
    must("close", fd_close(fd));
    expect_eq("dangling creat created target", file_size(b"dtarget"), Ok(0));
    expect_eq("symlink itself unchanged", path_filestat_get(D, NOFOLLOW, b"dang").map(|s| s.filetype), Ok(FT_SYMLINK));
    must("unlink dang", path_unlink_file(D, b"dang"));
    must("unlink dtarget", path_unlink_file(D, b"dtarget"));
    expect_err("open creat excl on symlink to existing", open(D, b"sl", O_CREAT | O_EXCL, 0), EXIST);
    let fd = expect_ok("open trunc via symlink", open(D, b"sl", O_TRUNC, 0));
    must("close", fd_close(fd));
    expect_eq("trunc via symlink truncates target", file_size(b"t"), Ok(0));
    must("rewrite t", write_file(D, b"t", b"target"));
}

fn mkdir_rmdir() {
    expect_ok("mkdir", path_create_directory(D, b"m"));
    expect_eq("mkdir type", path_filestat_get(D, NOFOLLOW, b"m").map(|s| s.filetype), Ok(FT_DIR));
    expect_err("mkdir existing", path_create_directory(D, b"m"), EXIST);
    expect_err("mkdir over file", path_create_directory(D, b"f"), EXIST);
    expect_err("mkdir over symlink", path_create_directory(D, b"sl"), EXIST);
    expect_err("mkdir dot", path_create_directory(D, b"."), EXIST);
    expect_err("mkdir missing parent", path_create_directory(D, b"nope/m"), NOENT);
    expect_err("mkdir under file", path_create_directory(D, b"f/m"), NOTDIR);
    expect_ok("mkdir nested", path_create_directory(D, b"m/n"));
    expect_ok("mkdir trailing slash", path_create_directory(D, b"m/o/"));
    expect_err("rmdir non-empty", path_remove_directory(D, b"m"), NOTEMPTY);
    expect_err("rmdir file", path_remove_directory(D, b"f"), NOTDIR);
    expect_err("rmdir symlink to dir", path_remove_directory(D, b"sldir"), NOTDIR);
    expect_err("rmdir missing", path_remove_directory(D, b"nope"), NOENT);
    expect_err("rmdir dot", path_remove_directory(D, b"m/n/."), INVAL);
    expect_ok("rmdir nested", path_remove_directory(D, b"m/n"));
    // POSIX rmdir("d/") works; wasmtime returns EINVAL
    expect_wt("rmdir trailing slash", path_remove_directory(D, b"m/o/"), Ok(()), Err(INVAL));
    let _ = path_remove_directory(D, b"m/o");
    expect_ok("rmdir", path_remove_directory(D, b"m"));
    expect_err("rmdir gone", path_filestat_get(D, NOFOLLOW, b"m"), NOENT);
    // a directory with only a file in it
    must("mkdir m2", path_create_directory(D, b"m2"));
    must("file in m2", write_file(D, b"m2/x", b""));
    expect_err("rmdir dir with file", path_remove_directory(D, b"m2"), NOTEMPTY);
    must("unlink m2/x", path_unlink_file(D, b"m2/x"));
    expect_ok("rmdir emptied dir", path_remove_directory(D, b"m2"));
}

fn unlink() {
    must("write u", write_file(D, b"u", b"u"));
    expect_ok("unlink", path_unlink_file(D, b"u"));
    expect_err("unlink gone", path_filestat_get(D, NOFOLLOW, b"u"), NOENT);
    expect_err("unlink missing", path_unlink_file(D, b"u"), NOENT);
    expect_err("unlink dir", path_unlink_file(D, b"dir"), ISDIR);
    expect_err("unlink file with trailing slash", path_unlink_file(D, b"f/"), NOTDIR);
    must("symlink ul -> f", path_symlink(b"f", D, b"ul"));
    expect_ok("unlink symlink", path_unlink_file(D, b"ul"));
    expect_eq("unlink symlink keeps target", file_size(b"f"), Ok(5));
    must("symlink uld -> dir", path_symlink(b"dir", D, b"uld"));
    expect_ok("unlink symlink to dir", path_unlink_file(D, b"uld"));
    expect_eq("dir still there", path_filestat_get(D, NOFOLLOW, b"dir").map(|s| s.filetype), Ok(FT_DIR));
    // unlinking an open file: the fd keeps working
    must("write uo", write_file(D, b"uo", b"still here"));
    let fd = must("open uo", open(D, b"uo", 0, 0));
    expect_ok("unlink open file", path_unlink_file(D, b"uo"));
    let mut b = [0u8; 16];
    expect_eq("read unlinked open file", fd_read(fd, &mut [&mut b]), Ok(10));
    expect_eq("unlinked file nlink", fd_filestat_get(fd).map(|s| s.nlink), Ok(0));
    must("close", fd_close(fd));
}

fn rename() {
    must("write r1", write_file(D, b"r1", b"one"));
    expect_ok("rename file", path_rename(D, b"r1", D, b"r2"));
    expect_err("rename source gone", file_size(b"r1"), NOENT);
    expect_eq("rename target", read_file(D, b"r2"), Ok(b"one".to_vec()));
    must("write r3", write_file(D, b"r3", b"three!"));
    expect_ok("rename over file", path_rename(D, b"r2", D, b"r3"));
    expect_eq("rename over file content", read_file(D, b"r3"), Ok(b"one".to_vec()));
    expect_err("rename over file source gone", file_size(b"r2"), NOENT);
    expect_ok("rename onto itself", path_rename(D, b"r3", D, b"r3"));
    expect_eq("rename onto itself keeps file", read_file(D, b"r3"), Ok(b"one".to_vec()));
    must("link r3 -> r4", path_link(D, NOFOLLOW, b"r3", D, b"r4"));
    expect_ok("rename between hard links", path_rename(D, b"r3", D, b"r4"));
    expect_eq("rename between hard links keeps both", (file_size(b"r3"), file_size(b"r4")), (Ok(3), Ok(3)));
    must("unlink r4", path_unlink_file(D, b"r4"));

    must("mkdir ra", path_create_directory(D, b"ra"));
    must("mkdir ra/b", path_create_directory(D, b"ra/b"));
    must("write ra/b/f", write_file(D, b"ra/b/f", b"deep"));
    must("mkdir rb", path_create_directory(D, b"rb"));
    expect_ok("rename dir over empty dir", path_rename(D, b"ra", D, b"rb"));
    expect_eq("renamed dir content", read_file(D, b"rb/b/f"), Ok(b"deep".to_vec()));
    expect_err("renamed dir source gone", file_size(b"ra"), NOENT);
    must("mkdir rc", path_create_directory(D, b"rc"));
    must("write rc/x", write_file(D, b"rc/x", b""));
    expect_err("rename dir over non-empty dir", path_rename(D, b"rb", D, b"rc"), NOTEMPTY);
    expect_err("rename dir into own subtree", path_rename(D, b"rb", D, b"rb/b/sub"), INVAL);
    expect_err("rename dir onto own child", path_rename(D, b"rb", D, b"rb/b"), INVAL);
    expect_err("rename file over dir", path_rename(D, b"r3", D, b"rc"), ISDIR);
    expect_err("rename dir over file", path_rename(D, b"rc", D, b"r3"), NOTDIR);
    expect_ok("rename dir onto itself", path_rename(D, b"rc", D, b"rc"));
    expect_err("rename missing", path_rename(D, b"nope", D, b"x"), NOENT);
    expect_err("rename into missing dir", path_rename(D, b"r3", D, b"nope/x"), NOENT);
    expect_err("rename file with trailing slash", path_rename(D, b"r3/", D, b"r5"), NOTDIR);
    expect_ok("rename dir with trailing slashes", path_rename(D, b"rc/", D, b"rd/"));
    expect_eq("rename dir with trailing slashes result", read_file(D, b"rd/x"), Ok(Vec::new()));
    // a symlink is renamed, not its target
    must("symlink rs -> r3", path_symlink(b"r3", D, b"rs"));
    expect_ok("rename symlink", path_rename(D, b"rs", D, b"rs2"));
    expect_eq("renamed symlink", path_filestat_get(D, NOFOLLOW, b"rs2").map(|s| s.filetype), Ok(FT_SYMLINK));
    expect_eq("symlink target not moved", file_size(b"r3"), Ok(3));
    // rename across directory fds
    let a = must("open rb", open_dir(D, b"rb"));
    let b = must("open rd", open_dir(D, b"rd"));
    expect_ok("rename across dir fds", path_rename(a, b"b/f", b, b"moved"));
    expect_eq("rename across dir fds result", read_file(D, b"rd/moved"), Ok(b"deep".to_vec()));
    // an open fd survives the rename of its file
    let fd = must("open rd/moved", open(D, b"rd/moved", 0, 0));
    must("rename open file", path_rename(D, b"rd/moved", D, b"rb/back"));
    let mut buf = [0u8; 8];
    expect_eq("read renamed open file", fd_read(fd, &mut [&mut buf]), Ok(4));
    must("close", fd_close(fd));
    must("close a", fd_close(a));
    must("close b", fd_close(b));
    // cleanup: leave "rn" (a dir) behind
    must("unlink rb/back", path_unlink_file(D, b"rb/back"));
    must("rmdir rb/b", path_remove_directory(D, b"rb/b"));
    must("rename rb", path_rename(D, b"rb", D, b"rn"));
    must("unlink rd/x", path_unlink_file(D, b"rd/x"));
    must("rmdir rd", path_remove_directory(D, b"rd"));
    must("unlink r3", path_unlink_file(D, b"r3"));
    must("unlink rs2", path_unlink_file(D, b"rs2"));
}

fn link() {
    must("write l1", write_file(D, b"l1", b"link"));
    expect_ok("link", path_link(D, NOFOLLOW, b"l1", D, b"l2"));
    let a = must("stat l1", path_filestat_get(D, NOFOLLOW, b"l1"));
    let b = must("stat l2", path_filestat_get(D, NOFOLLOW, b"l2"));
    expect_eq("link nlink", (a.nlink, b.nlink), (2, 2));
    expect_eq("link same inode", (a.dev, a.ino), (b.dev, b.ino));
    let fd = must("open l2", open(D, b"l2", 0, 0));
    must("write via l2", fd_pwrite(fd, &[b"L"], 0));
    expect_eq("write via link visible", read_file(D, b"l1"), Ok(b"Link".to_vec()));
    expect_eq("fd nlink", fd_filestat_get(fd).map(|s| s.nlink), Ok(2));
    must("mkdir ld", path_create_directory(D, b"ld"));
    expect_ok("link into subdir", path_link(D, NOFOLLOW, b"l1", D, b"ld/l3"));
    expect_eq("nlink 3", fd_filestat_get(fd).map(|s| s.nlink), Ok(3));
    expect_err("link onto existing", path_link(D, NOFOLLOW, b"l1", D, b"l2"), EXIST);
    expect_err("link dir", path_link(D, NOFOLLOW, b"ld", D, b"ld2"), PERM);
    expect_err("link missing", path_link(D, NOFOLLOW, b"nope", D, b"l4"), NOENT);
    expect_err("link into missing dir", path_link(D, NOFOLLOW, b"l1", D, b"nope/l4"), NOENT);
    expect_err("link follow flag", path_link(D, FOLLOW, b"l1", D, b"l5"), INVAL);
    // linking a symlink links the symlink itself
    must("symlink lsym -> l1", path_symlink(b"l1", D, b"lsym"));
    expect_ok("link symlink", path_link(D, NOFOLLOW, b"lsym", D, b"lsym2"));
    expect_eq("linked symlink is a symlink", path_filestat_get(D, NOFOLLOW, b"lsym2").map(|s| s.filetype), Ok(FT_SYMLINK));
    expect_eq("link symlink keeps target nlink", fd_filestat_get(fd).map(|s| s.nlink), Ok(3));
    must("unlink l1", path_unlink_file(D, b"l1"));
    expect_eq("nlink after unlink", fd_filestat_get(fd).map(|s| s.nlink), Ok(2));
    expect_eq("other name still readable", read_file(D, b"ld/l3"), Ok(b"Link".to_vec()));
    must("close", fd_close(fd));
    for p in [&b"l2"[..], b"ld/l3", b"lsym", b"lsym2"] {
        must("cleanup link", path_unlink_file(D, p));
    }
    must("rmdir ld", path_remove_directory(D, b"ld"));
}

fn symlink_readlink() {
    expect_ok("symlink", path_symlink(b"some/target", D, b"s1"));
    let st = must("lstat s1", path_filestat_get(D, NOFOLLOW, b"s1"));
    expect_eq("symlink type and size", (st.filetype, st.size), (FT_SYMLINK, 11));
    expect_err("symlink over existing", path_symlink(b"x", D, b"s1"), EXIST);
    expect_err("symlink over file", path_symlink(b"x", D, b"f"), EXIST);
    expect_err("symlink in missing dir", path_symlink(b"x", D, b"nope/s"), NOENT);
    let mut buf = [0u8; 32];
    expect_eq("readlink", path_readlink(D, b"s1", &mut buf), Ok(11));
    expect_eq("readlink content", &buf[..11], b"some/target");
    let mut short = [b'#'; 8];
    expect_eq("readlink short buffer", path_readlink(D, b"s1", &mut short[..4]), Ok(4));
    expect_eq("readlink short buffer content", &short, b"some####");
    expect_err("readlink file", path_readlink(D, b"f", &mut buf), INVAL);
    expect_err("readlink dir", path_readlink(D, b"dir", &mut buf), INVAL);
    expect_err("readlink missing", path_readlink(D, b"nope", &mut buf), NOENT);
    expect_eq("readlink through dir symlink", path_readlink(D, b"sldir/../sl", &mut buf), Ok(1));
    must("symlink s2 -> ..", path_symlink(b"..", D, b"dir/s2"));
    expect_eq("readlink dotdot target", path_readlink(D, b"dir/s2", &mut buf).map(|n| buf[..n].to_vec()), Ok(b"..".to_vec()));
    must("unlink s1", path_unlink_file(D, b"s1"));
    must("unlink dir/s2", path_unlink_file(D, b"dir/s2"));
}

fn filestat() {
    let st = expect_ok("path_filestat file", path_filestat_get(D, NOFOLLOW, b"f"));
    expect_eq("path_filestat file fields", (st.filetype, st.size, st.nlink), (FT_FILE, 5, 1));
    let st = expect_ok("path_filestat dir", path_filestat_get(D, NOFOLLOW, b"dir"));
    expect_eq("path_filestat dir type", st.filetype, FT_DIR);
    let l = must("lstat sl", path_filestat_get(D, NOFOLLOW, b"sl"));
    let t = must("stat sl", path_filestat_get(D, FOLLOW, b"sl"));
    let tt = must("stat t", path_filestat_get(D, NOFOLLOW, b"t"));
    expect_eq("path_filestat nofollow symlink", (l.filetype, l.size), (FT_SYMLINK, 1));
    expect_eq("path_filestat follow symlink", (t.filetype, t.size, t.ino), (FT_FILE, 6, tt.ino));
    expect_true("symlink has its own inode", l.ino != t.ino, "different inodes", (l.ino, t.ino));
    expect_err("path_filestat missing", path_filestat_get(D, NOFOLLOW, b"nope"), NOENT);
    expect_err("path_filestat under file", path_filestat_get(D, NOFOLLOW, b"f/x"), NOTDIR);
    let fd = must("open f", open(D, b"f", 0, 0));
    let fst = must("fd_filestat f", fd_filestat_get(fd));
    must("close", fd_close(fd));
    expect_eq("path and fd filestat agree", (fst.dev, fst.ino, fst.size), (st_of(b"f").dev, st_of(b"f").ino, 5));
}

fn st_of(p: &[u8]) -> Filestat {
    must("stat", path_filestat_get(D, NOFOLLOW, p))
}

fn set_times() {
    const S: u64 = 1_000_000_000;
    expect_ok("set_times", path_filestat_set_times(D, FOLLOW, b"f", 3 * S, 4 * S + 5, FST_ATIM | FST_MTIM));
    let st = st_of(b"f");
    expect_eq("set_times values", (st.atim, st.mtim), (3 * S, 4 * S + 5));
    expect_ok("set_times atim only", path_filestat_set_times(D, FOLLOW, b"f", 8 * S, 0, FST_ATIM));
    expect_eq("set_times atim only values", (st_of(b"f").atim, st_of(b"f").mtim), (8 * S, 4 * S + 5));
    let before = must("realtime", clock_time_get(0, 1));
    expect_ok("set_times mtim now", path_filestat_set_times(D, FOLLOW, b"f", 0, 0, FST_MTIM_NOW));
    let after = must("realtime", clock_time_get(0, 1));
    let st = st_of(b"f");
    expect_true(
        "set_times mtim now value",
        st.mtim + 2 * S >= before && st.mtim <= after + 2 * S && st.atim == 8 * S,
        "mtim ~ now, atim kept",
        (st.atim, st.mtim, before, after),
    );
    expect_ok("set_times both now", path_filestat_set_times(D, FOLLOW, b"f", 0, 0, FST_ATIM_NOW | FST_MTIM_NOW));
    let st = st_of(b"f");
    expect_true("set_times both now value", st.atim + 2 * S >= before && st.mtim + 2 * S >= before, "both ~ now", (st.atim, st.mtim));
    expect_err("set_times atim and now", path_filestat_set_times(D, FOLLOW, b"f", 1, 0, FST_ATIM | FST_ATIM_NOW), INVAL);
    expect_err("set_times mtim and now", path_filestat_set_times(D, FOLLOW, b"f", 0, 1, FST_MTIM | FST_MTIM_NOW), INVAL);
    expect_err("set_times missing", path_filestat_set_times(D, FOLLOW, b"nope", 0, 0, FST_MTIM_NOW), NOENT);
    expect_ok("set_times dir", path_filestat_set_times(D, FOLLOW, b"dir", 5 * S, 6 * S, FST_ATIM | FST_MTIM));
    expect_eq("set_times dir values", (st_of(b"dir").atim, st_of(b"dir").mtim), (5 * S, 6 * S));
    expect_ok("set_times through symlink", path_filestat_set_times(D, FOLLOW, b"sl", 7 * S, 7 * S, FST_ATIM | FST_MTIM));
    expect_eq("set_times through symlink reaches target", st_of(b"t").mtim, 7 * S);
    expect_true("set_times through symlink leaves link", st_of(b"sl").mtim != 7 * S, "link mtim unchanged", st_of(b"sl").mtim);
}

fn trailing_slash() {
    expect_err("open file/", open(D, b"f/", 0, 0), NOTDIR);
    expect_err("open file///", open(D, b"f///", 0, 0), NOTDIR);
    expect_err("open file/.", open(D, b"f/.", 0, 0), NOTDIR);
    expect_err("open file/..", open(D, b"f/..", 0, 0), NOTDIR);
    expect_err("filestat file/", path_filestat_get(D, FOLLOW, b"f/"), NOTDIR);
    expect_err("open symlink-to-file/", open(D, b"sl/", 0, 0), NOTDIR);
    let fd = expect_ok("open dir/", open_dir(D, b"dir/"));
    must("close", fd_close(fd));
    let fd = expect_ok("open dir//./", open_dir(D, b"dir//./"));
    must("close", fd_close(fd));
    let fd = expect_ok("open symlink-to-dir/", open_dir(D, b"sldir/"));
    must("close", fd_close(fd));
    expect_eq("filestat symlink-to-dir/ follows", path_filestat_get(D, NOFOLLOW, b"sldir/").map(|s| s.filetype), Ok(FT_DIR));
    expect_err("open creat new/", open(D, b"new/", O_CREAT, 0), ISDIR);
    expect_err("creat new/ creates nothing", path_filestat_get(D, NOFOLLOW, b"new"), NOENT);
}

fn loops_and_empty() {
    must("symlink loop1 -> loop2", path_symlink(b"loop2", D, b"loop1"));
    must("symlink loop2 -> loop1", path_symlink(b"loop1", D, b"loop2"));
    must("symlink self -> self", path_symlink(b"self", D, b"self"));
    expect_err("open 2-cycle", open(D, b"loop1", 0, 0), LOOP);
    expect_err("open self loop", open(D, b"self", 0, 0), LOOP);
    expect_err("open through loop", open(D, b"loop1/x", 0, 0), LOOP);
    expect_err("filestat follow loop", path_filestat_get(D, FOLLOW, b"loop1"), LOOP);
    expect_eq("filestat nofollow loop", path_filestat_get(D, NOFOLLOW, b"loop1").map(|s| s.filetype), Ok(FT_SYMLINK));
    expect_err("creat through loop", open(D, b"self", O_CREAT, 0), LOOP);
    expect_err("mkdir through loop", path_create_directory(D, b"loop1/d"), LOOP);
    expect_err("open empty path", open(D, b"", 0, 0), NOENT);
    expect_err("creat empty path", open(D, b"", O_CREAT, 0), NOENT);
    expect_err("filestat empty path", path_filestat_get(D, FOLLOW, b""), NOENT);
    expect_err("mkdir empty path", path_create_directory(D, b""), NOENT);
    expect_err("rmdir empty path", path_remove_directory(D, b""), NOENT);
    expect_err("unlink empty path", path_unlink_file(D, b""), NOENT);
    expect_err("rename empty source", path_rename(D, b"", D, b"x"), NOENT);
    expect_err("rename empty target", path_rename(D, b"f", D, b""), NOENT);
    expect_err("link empty source", path_link(D, NOFOLLOW, b"", D, b"x"), NOENT);
    expect_err("symlink empty name", path_symlink(b"f", D, b""), NOENT);
    expect_err("readlink empty path", path_readlink(D, b"", &mut [0u8; 8]), NOENT);
    expect_err("set_times empty path", path_filestat_set_times(D, FOLLOW, b"", 0, 0, FST_MTIM_NOW), NOENT);
}
