//! docker-py (the installed `docker` package) against berthd: runs containers,
//! lists, logs, execs, and its responses parse.

use berth_e2e::{text, Berthd};

const SCRIPT: &str = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
assert c.ping()
v = c.version()
assert v["ApiVersion"] == "1.41", v
out = c.containers.run("busybox", ["echo", "from-py"], remove=True)
assert out == b"from-py\n", out
ctr = c.containers.run("busybox", ["sh", "-c", "echo started; sleep 100"], detach=True, labels={"py": "yes"})
assert [x.id for x in c.containers.list(filters={"label": "py=yes"})] == [ctr.id]
ctr.reload()
assert ctr.status == "running", ctr.status
code, (o, e) = ctr.exec_run(["sh", "-c", "echo o; echo e >&2; exit 2"], demux=True)
assert (code, o, e) == (2, b"o\n", b"e\n"), (code, o, e)
# Regression: output written right after the response head was lost, as docker-py
# reads the head through a buffer it then drops.
for i in range(20):
    r = ctr.exec_run(["echo", str(i)], demux=True)
    assert (r.exit_code, r.output) == (0, (str(i).encode() + b"\n", None)), (i, r)
r = ctr.exec_run(["no-such-command"])
assert r.exit_code == 127 and b"executable file not found" in r.output, r
import time
for _ in range(50):
    if ctr.logs() == b"started\n":
        break
    time.sleep(0.1)
assert ctr.logs() == b"started\n", ctr.logs()
ctr.stop(timeout=1)
assert ctr.wait()["StatusCode"] == 137
ctr.remove()
# Networks: create, connect with an alias, reach by the alias, ports, remove.
net = c.networks.create("pynet", labels={"by": "py"})
assert [n.name for n in c.networks.list(filters={"label": "by=py"})] == ["pynet"]
web = c.containers.run("busybox", ["sh", "-c", "mkdir /w && echo py-web > /w/index.html && exec httpd -f -p 80 -h /w"],
                       detach=True, network="pynet", ports={"80/tcp": ("127.0.0.1", None)})
net.connect(c.containers.create("busybox", ["true"]), aliases=["spare"])
web.reload()
host_port = web.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
assert int(host_port) > 0, web.attrs["NetworkSettings"]["Ports"]
ip = web.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"]
out = c.containers.run("busybox", ["wget", "-qO-", "http://" + web.name + "/"], network="pynet", remove=True)
assert out == b"py-web\n", out
net.reload()
assert web.id in net.attrs["Containers"], net.attrs
assert net.attrs["Containers"][web.id]["IPv4Address"] == ip + "/24", net.attrs
web.remove(force=True)
for x in c.containers.list(all=True):
    x.remove(force=True)
net.remove()
images = c.images.list()
assert any("busybox:latest" in i.tags for i in images), [i.tags for i in images]
assert c.containers.list(all=True) == []
print("docker-py ok")
"#;

#[test]
fn docker_py_runs_lists_logs_and_execs() {
    let d = Berthd::start();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(d.host())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}\nberthd: {}",
        text(&out.stdout),
        text(&out.stderr),
        d.log()
    );
    assert_eq!(text(&out.stdout).trim(), "docker-py ok");
    d.assert_clean();
}
