import time

import ketch

ticks = ketch.Dict.from_name("schedule-ticks", create_if_missing=True)
app = ketch.App("scheduled")


@app.function(schedule=ketch.Period(seconds=1))
def tick():
    ticks.put(time.time(), True)
