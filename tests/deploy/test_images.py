"""Checks deploy/docker/Dockerfile without a Docker engine (this machine has none):
  * the build stage copies every folder the top-level CMakeLists.txt adds, and the
    scheduler's web root;
  * the runtime packages (between the RUNTIME-PACKAGES markers) provide every shared library
    the built binaries link: `ldd` of genfarm-scheduler, genfarm-worker and genfarm, each
    library's package from dpkg's file lists (as `dpkg -S`), and the listed packages' installed dependency closure
    (dpkg's Depends and Pre-Depends) must cover them. This is the check that a missing
    runtime library would fail, short of running the image.

    /usr/bin/python3 tests/deploy/test_images.py       # ctest -L deploy
The ldd check skips when the binaries are not built (GENFARM_BIN_DIR) or dpkg is missing.
"""
import pathlib
import re
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from deploy_common import BIN_DIR, REPO, main, run, tool  # noqa: E402

DOCKERFILE = REPO / "deploy/docker/Dockerfile"
# Which binaries each image holds, and which runtime package blocks it installs.
IMAGES = {
    "scheduler": (["scheduler/genfarm-scheduler", "client/genfarm"], ["base"]),
    "worker": (["worker/genfarm-worker", "client/genfarm"], ["base", "worker"]),
}


def runtime_packages(block):
    text = DOCKERFILE.read_text()
    m = re.search(rf"# RUNTIME-PACKAGES-BEGIN {block}\n(.*?)# RUNTIME-PACKAGES-END {block}", text, re.S)
    if not m:
        raise AssertionError(f"no RUNTIME-PACKAGES {block} block in {DOCKERFILE}")
    install = re.search(r"--no-install-recommends\s*\\?\n(.*?)&&", m.group(1), re.S).group(1)
    return set(re.findall(r"[a-z0-9][a-z0-9.+-]+", install.replace("\\", " ")))


def installed_depends():
    """{package: [[alternative, ...], ...]} of every installed package, and the set of
    Essential ones (always present in debian:bookworm)."""
    r = run(["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Pre-Depends}, ${Depends}\n"])
    deps, essential = {}, set()
    for line in r.stdout.splitlines():
        name, ess, rest = line.split("\t")
        groups = []
        for group in rest.split(","):
            alts = [re.sub(r"[\s(:].*", "", a.strip()) for a in group.split("|")]
            alts = [a for a in alts if a]
            if alts:
                groups.append(alts)
        deps[name] = groups
        if ess == "yes":
            essential.add(name)
    return deps, essential


def closure(roots, deps):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for alts in deps.get(p, []):
            # apt installs the first alternative that is satisfiable; follow the installed one.
            todo.append(next((a for a in alts if a in deps), alts[0]))
    return seen


def dpkg_owners():
    """{path: package} from dpkg's file lists (what `dpkg -S` searches, read once)."""
    owners = {}
    for lst in pathlib.Path("/var/lib/dpkg/info").glob("*.list"):
        package = lst.name[:-len(".list")].split(":")[0]
        for line in lst.read_text(errors="replace").splitlines():
            owners[line] = package
    return owners


def linked_packages(binaries, owners):
    """{package: [library, ...]} of the shared libraries the binaries link (ldd + dpkg)."""
    libs = set()
    for b in binaries:
        r = run(["ldd", str(b)])
        if r.returncode != 0:
            raise AssertionError(f"ldd {b}: {r.stderr}")
        if "not found" in r.stdout:
            raise AssertionError(f"{b} has unresolved libraries here:\n{r.stdout}")
        libs |= set(re.findall(r"=> (/\S+)", r.stdout))
    out = {}
    for lib in sorted(libs):
        path = pathlib.Path(lib)
        # dpkg knows the path the package shipped (/lib or /usr/lib, before or after links).
        candidates = [str(path), str(path.resolve())]
        candidates += [c.replace("/usr/lib/", "/lib/", 1) for c in candidates]
        package = next((owners[c] for c in candidates if c in owners), None)
        if package is None:
            raise AssertionError(f"{lib} belongs to no Debian package (dpkg -S)")
        out.setdefault(package, []).append(lib)
    return out


class DockerfileTest(unittest.TestCase):
    maxDiff = None

    def test_build_stage_copies_what_cmake_reads(self):
        text = DOCKERFILE.read_text()
        copied = set(re.findall(r"^COPY (\w+) /src/\1$", text, re.M))
        subdirs = set(re.findall(r"^\s*add_subdirectory\((\w+)\)", (REPO / "CMakeLists.txt").read_text(), re.M))
        self.assertLessEqual(subdirs, copied, "folders CMakeLists.txt adds that the build stage does not copy")
        self.assertIn("COPY scheduler/web /usr/share/genfarm/web", text)
        self.assertTrue((REPO / "scheduler/web/index.html").exists())

    def test_runtime_stages_are_debian_bookworm(self):
        stages = dict((s, b) for b, s in re.findall(r"^FROM (\S+) AS (\w+)$", DOCKERFILE.read_text(), re.M))
        self.assertEqual(stages["runtime"], "debian:bookworm")
        self.assertEqual(stages["scheduler"], "runtime")
        self.assertEqual(stages["worker"], "runtime")

    @unittest.skipUnless(tool("dpkg-query") and tool("ldd"), "dpkg or ldd not found")
    def test_runtime_packages_provide_every_linked_library(self):
        deps, essential = installed_depends()
        owners = dpkg_owners()
        ran = False
        for image, (binaries, blocks) in IMAGES.items():
            paths = [BIN_DIR / b for b in binaries]
            if not all(p.exists() for p in paths):
                continue
            if re.search(r"lib(asan|tsan|ubsan)\.so", run(["ldd", str(paths[0])]).stdout):
                continue  # a sanitizer build links its runtimes; the image is a release build
            ran = True
            listed = set().union(*(runtime_packages(b) for b in blocks))
            not_installed = sorted(p for p in listed if p not in deps)
            self.assertEqual(not_installed, [], f"{image}: listed but not installed here, cannot check")
            provided = closure(listed | essential, deps)
            missing = {p: libs for p, libs in linked_packages(paths, owners).items() if p not in provided}
            self.assertEqual(missing, {}, f"the {image} image lacks the packages of these libraries")
        if not ran:
            self.skipTest(f"binaries not built in {BIN_DIR}")


if __name__ == "__main__":
    main()
