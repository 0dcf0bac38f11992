"""A stateful code interpreter written for Modal's Sandbox API, run unchanged with
`ketch python`: a long-lived Python process in a sandbox runs each piece of code sent to its
stdin and answers with one JSON line, keeping its globals between pieces."""

import inspect
import json

import modal


def driver_program():
    import json
    import sys
    from contextlib import redirect_stderr, redirect_stdout
    from io import StringIO

    globals = {}
    while True:
        command = json.loads(input())
        if (code := command.get("code")) is None:
            print(json.dumps({"error": "No code to execute"}))
            continue

        stdout_io, stderr_io = StringIO(), StringIO()
        with redirect_stdout(stdout_io), redirect_stderr(stderr_io):
            try:
                exec(code, globals)
            except Exception as e:
                print(f"Execution Error: {e}", file=sys.stderr)

        print(
            json.dumps({"stdout": stdout_io.getvalue(), "stderr": stderr_io.getvalue()}),
            flush=True,
        )


def run_code(p, code):
    p.stdin.write(json.dumps({"code": code}))
    p.stdin.write("\n")
    p.stdin.drain()
    next_line = next(iter(p.stdout))
    result = json.loads(next_line)
    print(result["stdout"], end="")
    if result["stderr"]:
        print("\033[91m" + result["stderr"] + "\033[0m", end="")


driver_program_text = inspect.getsource(driver_program)
driver_program_command = f"""{driver_program_text}\n\ndriver_program()"""

app = modal.App.lookup("code-interpreter", create_if_missing=True)
sb = modal.Sandbox.create(app=app)
p = sb.exec("python", "-c", driver_program_command)

run_code(p, "print('hello, world!')")
run_code(p, "x = 2")
run_code(p, "print(x)")
run_code(p, "print(x * 5)")
run_code(p, "x = 42")
run_code(p, "print(f'state kept: {x}')")

sb.terminate()
