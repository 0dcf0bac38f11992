"""A script run as a module, `python -m programs.scheduled_module` (as an example that is run
with `python -m 05_scheduling.schedule_simple`): the app runs while the script sleeps, and its
schedule fires in the meantime."""

import time

import modal

app = modal.App("compat-scheduled-module")


@app.function(schedule=modal.Period(seconds=1))
def tick():
    print("tick from the schedule")


if __name__ == "__main__":
    print("package", __package__)
    with modal.enable_output(), app.run():
        time.sleep(4)
