"""A task whose closure drags a big frame into every pickle (README, ``--sizes``).

    picklecheck --sizes examples/payload.py:make_task --call -b cloudpickle --top 5

``make_task()`` returns a local function: cloudpickle pickles it by value, closure
and all, which is where the bytes go.
"""


def load_frame() -> dict:
    return {"values": bytes(range(256)) * 4096, "name": "sales", "columns": ["day", "total"]}


def make_task():
    frame = load_frame()

    def task(row: int) -> int:
        return frame["values"][row]

    return task
