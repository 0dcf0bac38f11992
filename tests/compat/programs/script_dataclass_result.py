"""A script run as ``python script.py`` whose function returns an instance of a class the
script defines (as modal-examples' sandbox pool keeps dataclasses in a Queue): the caller
unpickles it, importing the script by its file name as Modal's containers name it."""

from dataclasses import dataclass

import modal

app = modal.App("compat-script-dataclass")


@dataclass
class Reading:
    sensor: str
    value: float


@app.function()
def measure(sensor: str) -> Reading:
    return Reading(sensor, 21.5)


if __name__ == "__main__":
    with app.run():
        reading = measure.remote("porch")
        print("reading", reading.sensor, reading.value, type(reading).__module__)
