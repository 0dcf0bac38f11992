import ketch

app = ketch.App("broken")
raise RuntimeError("this module is broken on purpose")
