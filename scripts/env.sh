# Shared by ./cachefs, ./dev and .ci/run: finds JDK 25 and Maven, installs what is missing.
# Source it; it defines functions and sets nothing until they are called.

CACHEFS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# java_major JAVA_BIN -> prints the feature version (17, 25, ...)
java_major() {
    "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p' | head -1
}

# find_jdk: sets JAVA_HOME to a JDK 25 or newer, or fails with one clear line.
find_jdk() {
    local cand
    for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk-arm64 \
                /usr/lib/jvm/temurin-2[5-9]* /usr/lib/jvm/java-2[5-9]-openjdk* /usr/lib/jvm/jdk-2[5-9]*; do
        [ -n "$cand" ] && [ -x "$cand/bin/javac" ] || continue
        local v; v="$(java_major "$cand/bin/java")"
        if [ -n "$v" ] && [ "$v" -ge 25 ]; then
            export JAVA_HOME="$cand"
            return 0
        fi
    done
    echo "cachefs: no JDK 25 found (looked at \$JAVA_HOME and /usr/lib/jvm); install Temurin 25 or set JAVA_HOME" >&2
    return 1
}

# need_root_pkgs PKG...: installs the Debian packages that are missing (root only).
ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "cachefs: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        return 1
    fi
    echo "cachefs: installing ${missing[*]} ..." >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/tmp/cachefs-apt.log 2>&1; then
        apt-get update -q >>/tmp/cachefs-apt.log 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>/tmp/cachefs-apt.log 2>&1 || {
            echo "cachefs: apt-get install ${missing[*]} failed; see /tmp/cachefs-apt.log" >&2; return 1; }
    fi
}

# Packages the filesystem needs at run time, and what the tests and benchmarks add.
RUNTIME_PKGS=(fuse3)
BUILD_PKGS=(maven)
# The harness's lowers: sshd+sshfs, nfs-ganesha+gvfs, samba+smbnetfs; iproute2 for namespaces.
TEST_PKGS=(fuse3 attr fio bindfs iproute2 openssh-server openssh-client sshfs git
           nfs-ganesha nfs-ganesha-vfs rpcbind gvfs gvfs-backends gvfs-fuse dbus libglib2.0-bin libnfs-utils
           samba smbclient smbnetfs)

# What the demo's lowers need (SFTP by default; NFS and SMB on request).
DEMO_PKGS=(iproute2 openssh-server openssh-client sshfs)

# mvn_run ARGS...: Maven on JDK 25, quiet about the JDK's Unsafe warnings from Maven itself.
mvn_run() {
    find_jdk || return 1
    command -v mvn >/dev/null || ensure_pkgs "${BUILD_PKGS[@]}" || return 1
    MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
        mvn -f "$CACHEFS_ROOT/pom.xml" "$@"
}

CACHEFS_JAR="$CACHEFS_ROOT/cachefs-core/target/cachefs-all.jar"

# build_if_needed: (re)builds the CLI jar when it is missing or older than any source. Build
# outputs are not sources: the modules built after the jar write target/ files newer than it.
build_if_needed() {
    if [ -f "$CACHEFS_JAR" ] && [ -f "$CACHEFS_ROOT/test-harness/target/classpath.txt" ] && [ -f "$CACHEFS_ROOT/bench/target/classpath.txt" ] && [ -z "$(find "$CACHEFS_ROOT" \( -path "$CACHEFS_ROOT/.git" -o -name target \) -prune -o \
            \( -name '*.java' -o -name 'pom.xml' -o -name '*.properties' \) -newer "$CACHEFS_JAR" -print -quit)" ]; then
        return 0
    fi
    echo "cachefs: building (first use or sources changed) ..." >&2
    mvn_run -q -B -DskipTests package >/tmp/cachefs-build.log 2>&1 || {
        tail -30 /tmp/cachefs-build.log >&2
        echo "cachefs: build failed; full log in /tmp/cachefs-build.log" >&2
        return 1
    }
}

# aot_train_if_needed: makes the daemon's JVM AOT cache beside the jar once per build (see
# cachefs-core/.../cli/AotCache.java): a training run mounts a small local tree in one process and
# uses it. Needs FUSE (root, or fusermount3); best effort: without the cache cachefs works the
# same, only the first minute after each mount runs on a colder JVM. A failed training is not
# retried until the jar changes.
aot_train_if_needed() {
    local aot="$CACHEFS_ROOT/cachefs-core/target/cachefs.aot" failed="$CACHEFS_ROOT/cachefs-core/target/cachefs.aot.failed"
    [ -f "$CACHEFS_JAR" ] || return 0
    if { [ -s "$aot" ] && [ "$aot" -nt "$CACHEFS_JAR" ]; } || { [ -f "$failed" ] && [ "$failed" -nt "$CACHEFS_JAR" ]; }; then
        return 0
    fi
    echo "cachefs: training the daemon's JVM cache (once per build, about 20 s) ..." >&2
    local tmp="$CACHEFS_ROOT/cachefs-core/target/cachefs-train-$$.aot"
    if timeout 300 "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:AOTCacheOutput="$tmp" \
            -cp "$CACHEFS_JAR" dev.cachefs.cli.Main aot-train >/tmp/cachefs-aot.log 2>&1 && [ -s "$tmp" ]; then
        chmod 644 "$tmp" && mv -f "$tmp" "$aot" && rm -f "$failed"
    else
        rm -f "$tmp" "$tmp.config"
        touch "$failed"
        echo "cachefs: no JVM cache (see /tmp/cachefs-aot.log); cachefs runs the same without it" >&2
    fi
}

# report_skipped: one line with the totals of every test report, and the skipped tests by name.
report_skipped() {
    local files
    files=$(find "$CACHEFS_ROOT" -path '*/target/*-reports/TEST-*.xml' 2>/dev/null || true)
    [ -n "$files" ] || { echo "tests: no reports found"; return 0; }
    python3 - $files <<'PY' 2>/dev/null || true
import sys, xml.etree.ElementTree as ET
t = f = e = s = 0
skipped = []
for path in sys.argv[1:]:
    r = ET.parse(path).getroot()
    t += int(r.get("tests", 0)); f += int(r.get("failures", 0)); e += int(r.get("errors", 0)); s += int(r.get("skipped", 0))
    for c in r.iter("testcase"):
        sk = c.find("skipped")
        if sk is not None:
            why = sk.get('message') or (sk.text or '').strip().split('\n')[0]
            why = why.split('Assumption failed: ', 1)[-1]
            skipped.append(f"{c.get('classname')}.{c.get('name')}: {why}")
print(f"tests: {t} run, {f} failed, {e} errors, {s} skipped")
for line in skipped:
    print("  skipped " + line)
PY
}
