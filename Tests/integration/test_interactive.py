"""Interactive containers driven the way a person drives them: the docker CLI in a real terminal
(a tmux pane, run as the service's user), typing, resizing the window, Ctrl-D, and the detach keys
(Ctrl-P Ctrl-Q) of `docker attach`. What is asserted is what Docker 20.10 showed in the same tmux
setup (DOCKER-REFERENCE.md, "Interactive")."""
import os
import re
import subprocess
import time

import pytest

from containerkit import BOTH, wait_for


class Tmux:
    """A tmux server of the test's own (socket in the workdir), as the service's user."""

    def __init__(self, user, workdir, env):
        self.user = user
        self.socket = os.path.join(workdir, "tmux.sock")
        self.env = dict(env, TERM="xterm-256color", LANG="C.UTF-8")

    def tmux(self, *args, check=True):
        result = subprocess.run(self.user.command(["tmux", "-S", self.socket, *args], self.env),
                                capture_output=True, text=True, timeout=20)
        if check:
            assert result.returncode == 0, f"tmux {' '.join(args)}: {result.stderr}"
        return result

    def start(self, shell_command, width=80, height=24):
        """A detached session running `shell_command`; afterwards the pane prints EXITED <code>
        and stays open so its screen can be read."""
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                  f"{shell_command}; echo EXITED $?; sleep 600")
        self.tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def send(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "t", "-l", text)
        self.tmux("send-keys", "-t", "t", "Enter")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t").stdout

    def wait(self, pattern, timeout=15):
        """Waits until the screen matches `pattern` (a regex, multiline); returns the screen."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if regex.search(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never showed {pattern!r}; it shows:\n{screen}")
            time.sleep(0.05)

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def kill(self):
        """Ends the server and waits until it is gone: a session started while it is still
        exiting fails with "server exited unexpectedly"."""
        self.tmux("kill-server", check=False)
        deadline = time.monotonic() + 5
        while os.path.exists(self.socket) and time.monotonic() < deadline:
            if self.tmux("has-session", check=False).returncode != 0 and not self._server_alive():
                break
            time.sleep(0.05)
        try:
            os.unlink(self.socket)
        except FileNotFoundError:
            pass

    def _server_alive(self):
        """A tmux server process still has this socket in its command line or open."""
        out = subprocess.run(["pgrep", "-f", f"tmux -S {self.socket}"], capture_output=True, text=True).stdout
        return bool(out.strip())


@pytest.fixture
def term(engine, workdir):
    t = Tmux(engine.user, workdir, engine.cli.env)
    yield t
    t.kill()


@BOTH
def test_run_it_shell_prompt_commands_resize_and_ctrl_d(engine, term):
    term.start("docker run -it --rm --name tty busybox sh")
    term.wait(r"^/ #\s*$")
    term.type("echo hello $((6*7))")
    term.wait(r"^hello 42$")
    term.type("stty size")
    term.wait(r"^24 80$")
    term.type("tty")
    term.wait(r"^/dev/pts/\d+$")
    # The window grows: the container's terminal follows.
    term.resize(100, 30)
    time.sleep(0.3)
    term.type("stty size")
    term.wait(r"^30 100$")
    term.resize(70, 20)
    time.sleep(0.3)
    term.type("clear; stty size")
    term.wait(r"^20 70$")
    # Ctrl-D ends the shell, docker run ends with its code, and --rm removes the container.
    term.send("C-d")
    term.wait(r"^EXITED 0$")
    wait_for(lambda: engine.cli.out("ps", "-aq") == "", 10, what="--rm to remove the container")


def test_exit_code_of_an_interactive_shell(engine, term):
    term.start("docker run -it --name coded busybox sh")
    term.wait(r"^/ #\s*$")
    term.type("exit 7")
    term.wait(r"^EXITED 7$")
    assert engine.cli.fmt("coded", "{{.State.ExitCode}} {{.Config.Tty}} {{.Config.OpenStdin}}") == "7 true true"


def test_run_dit_then_attach_and_detach_with_ctrl_p_ctrl_q(engine, term):
    engine.run_id("-it", "--name", "bg", "busybox", "sh")
    pid = engine.pid("bg")
    term.start("docker attach bg")
    time.sleep(0.5)
    term.type("echo attached $((6*7))")
    term.wait(r"^attached 42$")
    term.send("C-p", "C-q")
    # The CLI says why it stopped and exits 1 (docker CLI 28); the container keeps running.
    screen = term.wait(r"^EXITED \d+$")
    assert "read escape sequence" in screen, screen
    assert re.search(r"^EXITED 1$", screen, re.M), screen
    assert engine.cli.fmt("bg", "{{.State.Status}} {{.State.Pid}}") == f"running {pid}"
    assert "attached 42" in engine.cli.out("logs", "bg")
    # Attach again: the same shell; exiting it ends the attach with the shell's code.
    term.kill()
    term.start("docker attach bg")
    time.sleep(0.5)
    term.type("echo again")
    term.wait(r"^again$")
    term.type("exit 5")
    term.wait(r"^EXITED 5$")
    assert engine.cli.fmt("bg", "{{.State.Status}} {{.State.ExitCode}}") == "exited 5"


def test_custom_detach_keys(engine, term):
    engine.run_id("-it", "--name", "keys", "busybox", "sh")
    term.start("docker attach --detach-keys ctrl-x,x keys")
    time.sleep(0.5)
    term.send("C-p", "C-q")     # not the detach keys now: they reach the shell
    term.type("echo still here")
    term.wait(r"^still here$")
    term.send("C-x", "x")
    screen = term.wait(r"^EXITED \d+$")
    assert "read escape sequence" in screen, screen
    assert engine.cli.fmt("keys", "{{.State.Running}}") == "true"


def test_piped_stdin_without_a_tty(engine):
    result = engine.cli("run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; echo done >&2",
                        input="hello\nworld\n")
    assert (result.stdout, result.stderr) == ("HELLO\nWORLD\n", "done\n")
    # -t without a terminal on the client's side is refused by the CLI itself.
    refused = engine.cli("run", "-it", "--rm", "busybox", "true", ok=False, input="")
    assert refused.returncode != 0
    assert "the input device is not a TTY" in refused.stderr
