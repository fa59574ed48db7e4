"""Property-based fuzzing of whole scenario files: structurally plausible scenarios (subnets, hosts
with interfaces, files and routes, Docker hosts with networks, containers, published ports and
mounts, steps, variants) built from hostile names, paths and numbers.

The loader must answer each with a Scenario or a ScenarioInvalid, never anything else; and what it
accepts must be buildable where it matters for safety: every node file normalised and under /etc,
every container file and mount target normalised and in a place a container may have it, every
mount source inside the scenario's folder.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.errors import ScenarioInvalid
from lab.scenario.checker import CONTAINER_RESERVED, path_problem, under
from lab.scenario.loader import load_scenario

NAMES = st.one_of(
    st.sampled_from(
        ["lan", "wan", "dmz", "a", "b", "server", "client", "up", "DOWN", "lo", "dev", "all", "master", "docker0"]
    ),
    st.sampled_from(["lan\n", "a--b", "x" * 16, "-a", "a b", "é", "bridge", "results.json", "c", "", "0"]),
    st.text(alphabet="abcXYZ019-_.\n\t ", min_size=1, max_size=16),
)
OCTET = st.one_of(st.integers(0, 255), st.sampled_from([256, 999, -1]))
ADDRESSES = st.one_of(
    st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}", st.sampled_from([10, 172, 127, 0]), OCTET, OCTET, OCTET),
    st.sampled_from(["10.0.31.2", "10.0.31.5", "10.0.32.1", "172.19.0.41", "0.0.0.0", "999.1.1.1", "::1", "x"]),
)
NETWORKS = st.one_of(
    st.builds(lambda a, p: f"{a}/{p}", ADDRESSES, st.integers(0, 33)),
    st.sampled_from(["10.0.31.0/24", "10.0.32.0/24", "172.19.0.0/16", "172.19.0.0/31", "10.0.0.0/8"]),
)
PARTS = st.sampled_from(["etc", "taos", "taos.cfg", "tmp", "x", "..", ".", "", "proc", "sys", "dev", "usr", "bin"])
WEIRD_PARTS = st.sampled_from(["a\nb", "a\0b", "a\tb", "é", "a,b", 'a"b', "\x1b[31m", "hosts", "resolv.conf"])
PATHS = st.one_of(
    st.builds(
        lambda lead, parts, trail: lead + "/".join(parts) + trail,
        st.sampled_from(["/", "", "//", "/etc/", "/etc//"]),
        st.lists(st.one_of(PARTS, WEIRD_PARTS), max_size=4),
        st.sampled_from(["", "/", "/."]),
    ),
    st.sampled_from(["/etc//tmp/x/victim.txt", "/etc/", "/etc", "/etc/hosts/x", "/", "/proc/1/environ", "/data"]),
)
LOCAL = st.one_of(
    st.sampled_from(["data", "data/", "./data", "../data", "data/../..", "/etc", "link", "missing", "data/f.txt"]),
    PATHS,
)
PORTS = st.one_of(st.integers(-1, 70000), st.sampled_from([0, 1, 6030, 65535, 65536]))
PUBLISH = st.one_of(
    st.builds(lambda h, c: f"{h}:{c}", PORTS, PORTS),
    st.builds(lambda ip, h, c: f"{ip}:{h}:{c}", ADDRESSES, PORTS, PORTS),
    st.builds(lambda a, b: f"{a}-{b}:{a}-{b}", PORTS, PORTS),
    st.sampled_from(["16030:6030/udp", "16030:6030\n", "1-65535:1-65535", "6030", "x:y"]),
)
TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["${x}", "${missing}", "$(reboot)", "-f", "a\nb"]))
FILES = st.dictionaries(PATHS, st.one_of(TEXT, st.fixed_dictionaries({"from": LOCAL})), max_size=3)
ROUTES = st.lists(
    st.one_of(
        st.builds(lambda n, v: f"{n} via {v}", NETWORKS, ADDRESSES),
        st.fixed_dictionaries({"to": NETWORKS, "via": ADDRESSES}),
        st.sampled_from(["route add 172.19.0.0 mask 255.255.0.0 10.0.31.2", "x"]),
    ),
    max_size=2,
)
HOSTS = st.dictionaries(
    NAMES,
    st.fixed_dictionaries(
        {"interfaces": st.dictionaries(NAMES, ADDRESSES, max_size=2)},
        optional={
            "gateway": ADDRESSES,
            "routes": ROUTES,
            "files": FILES,
            "hosts": st.dictionaries(NAMES, ADDRESSES, max_size=2),
            "dns": st.lists(ADDRESSES, max_size=2),
            "os": st.sampled_from(["linux", "windows", "beos"]),
        },
    ),
    max_size=3,
)
CONTAINERS = st.dictionaries(
    NAMES,
    st.fixed_dictionaries(
        {"network": NAMES, "ip": ADDRESSES},
        optional={
            "publish": st.lists(PUBLISH, max_size=3),
            "mounts": st.lists(
                st.builds(lambda s, t, m: f"{s}:{t}{m}", LOCAL, PATHS, st.sampled_from(["", ":ro", ":rw", ":x"])),
                max_size=2,
            ),
            "files": FILES,
            "hostname": NAMES,
            "command": st.lists(TEXT, max_size=3),
            "environment": st.dictionaries(NAMES, TEXT, max_size=2),
            "ready": st.builds(lambda p: f"tcp:{p}", PORTS),
        },
    ),
    max_size=3,
)
DOCKER_HOSTS = st.dictionaries(
    NAMES,
    st.fixed_dictionaries(
        {
            "interfaces": st.dictionaries(NAMES, ADDRESSES, max_size=1),
            "networks": st.dictionaries(
                NAMES,
                st.fixed_dictionaries({"subnet": NETWORKS}, optional={"gateway": ADDRESSES, "bridge": NAMES}),
                max_size=2,
            ),
        },
        optional={"containers": CONTAINERS, "routes": ROUTES, "userland_proxy": st.booleans()},
    ),
    max_size=2,
)
STEPS = st.lists(
    st.fixed_dictionaries(
        {"name": NAMES, "on": st.one_of(NAMES, st.lists(NAMES, max_size=2))},
        optional={
            "ping": st.one_of(ADDRESSES, NAMES),
            "tcp": st.builds(lambda h, p: f"{h}:{p}", st.one_of(ADDRESSES, NAMES), PORTS),
            "run": st.lists(TEXT, max_size=3),
            "timeout": st.one_of(st.floats(allow_nan=True), st.integers(-5, 5000)),
            "until": st.fixed_dictionaries(
                {"text": TEXT}, optional={"interval": st.floats(0, 100), "times": st.integers(-1, 3)}
            ),
        },
    ),
    max_size=3,
)
SCENARIOS = st.fixed_dictionaries(
    {
        "name": st.one_of(st.just("fuzz"), NAMES),
        "subnets": st.dictionaries(NAMES, NETWORKS, min_size=1, max_size=3),
    },
    optional={
        "vars": st.dictionaries(st.sampled_from(["x", "y", "bad name"]), st.one_of(TEXT, PORTS), max_size=2),
        "hosts": HOSTS,
        "routers": HOSTS,
        "docker_hosts": DOCKER_HOSTS,
        "steps": STEPS,
        "captures": st.lists(NAMES, max_size=2),
        "variants": st.dictionaries(NAMES, st.one_of(st.none(), st.fixed_dictionaries({"set": HOSTS})), max_size=2),
    },
)

# Mostly right, sometimes wrong: scenarios the loader accepts often enough to check what it accepts.
SAFE_PART = st.sampled_from(["taos", "taos.cfg", "redis", "app.conf", "data", "x", "etc", "proc", "hosts", "usr"])
GOOD_PART = st.sampled_from(["taos", "taos.cfg", "redis", "app.conf", "data2", "x"])
NEAR_PATHS = st.one_of(
    st.builds(lambda parts: "/etc/" + "/".join(parts), st.lists(GOOD_PART, min_size=1, max_size=3)),
    st.builds(lambda parts: "/etc/" + "/".join(parts), st.lists(SAFE_PART, min_size=1, max_size=3)),
    st.builds(lambda parts: "/" + "/".join(parts), st.lists(SAFE_PART, min_size=1, max_size=3)),
    st.builds(lambda parts: "/opt/" + "/".join(parts), st.lists(st.one_of(SAFE_PART, PARTS), min_size=1, max_size=3)),
    PATHS,
)
NEAR_LOCAL = st.one_of(st.sampled_from(["data", "data/f.txt", "data/sub"]), LOCAL)
NEAR_CONTAINERS = st.dictionaries(
    st.sampled_from(["taosnode1", "taosnode2", "redis1", "redis2"]),
    st.fixed_dictionaries(
        {"network": st.just("net"), "ip": st.builds(lambda d: f"172.19.0.{d}", st.integers(2, 254))},
        optional={
            "publish": st.lists(st.one_of(st.builds(lambda p: f"{p}:{p}", st.integers(1, 65535)), PUBLISH), max_size=2),
            "mounts": st.lists(
                st.builds(lambda s, t, m: f"{s}:{t}{m}", NEAR_LOCAL, NEAR_PATHS, st.sampled_from(["", ":ro"])),
                max_size=2,
            ),
            "files": st.dictionaries(NEAR_PATHS, TEXT, max_size=3),
        },
    ),
    max_size=3,
)
NEAR_SCENARIOS = st.fixed_dictionaries(
    {
        "name": st.just("near"),
        "subnets": st.just({"lan": "10.0.31.0/24"}),
        "hosts": st.fixed_dictionaries(
            {
                "client": st.fixed_dictionaries(
                    {"interfaces": st.just({"lan": "10.0.31.5"})},
                    optional={"files": st.dictionaries(NEAR_PATHS, TEXT, max_size=3), "routes": ROUTES},
                )
            }
        ),
        "docker_hosts": st.fixed_dictionaries(
            {
                "server": st.fixed_dictionaries(
                    {
                        "interfaces": st.just({"lan": "10.0.31.2"}),
                        "networks": st.just({"net": {"subnet": "172.19.0.0/16"}}),
                        "containers": NEAR_CONTAINERS,
                    }
                )
            }
        ),
    },
)

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _folder(tmp_path: Path) -> Path:
    """The scenario's folder: a data folder and file, and a symlink that leads out of it."""
    folder = tmp_path / "scenario"
    if not folder.exists():
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "f.txt").write_text("inside\n")
        (folder / "data" / "sub").mkdir()
        (folder / "link").symlink_to("/etc")
    return folder


def _check_accepted(scenario, folder: Path) -> None:
    for variant in scenario.variants:
        deployment = variant.deployment
        for node in deployment.nodes:
            for spec in node.files:
                assert path_problem(spec.path) is None and posixpath.normpath(spec.path) == spec.path, spec.path
                assert spec.path.startswith("/etc/"), spec.path
        for container in deployment.containers:
            for target in [f.path for f in container.files] + [m.target for m in container.mounts]:
                assert path_problem(target) is None and target != "/", target
                assert not any(under(target, folder) for folder, _ in CONTAINER_RESERVED), target
            for mount in container.mounts:
                assert Path(mount.source).resolve().is_relative_to(folder.resolve()), mount.source
                assert "," not in mount.source and "," not in mount.target


@FUZZ
@given(document=st.one_of(SCENARIOS, NEAR_SCENARIOS))
def test_whole_scenarios_are_read_or_refused_cleanly(tmp_path, document):
    folder = _folder(tmp_path)
    path = folder / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        scenario = load_scenario(path)
    except ScenarioInvalid as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.where.line >= 1 and problem.where.column >= 1
            assert "\n" not in problem.message and "\x1b" not in problem.message, problem.message
        return
    _check_accepted(scenario, folder)


@FUZZ
@given(document=SCENARIOS)
def test_whole_scenarios_as_flow_yaml_with_aliases(tmp_path, document):
    """The same scenarios written with every repeated value as an anchor and aliases (yaml.dump does
    that for shared objects): aliases are counted, never expanded without bound."""
    folder = _folder(tmp_path)
    shared = {"x": document.get("subnets")}
    document = {**document, "vars": {**document.get("vars", {}), "copy": shared, "again": shared}}
    path = folder / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document, default_flow_style=True, allow_unicode=True))
    try:
        scenario = load_scenario(path)
    except ScenarioInvalid as exc:
        assert exc.problems
        return
    _check_accepted(scenario, folder)
