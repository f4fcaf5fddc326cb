"""`byoc jobs poison`: the messages that failed too often, or were malformed."""

from __future__ import annotations

import typer

from byoc.entrypoints.cli.context import (
    JsonOption,
    YesOption,
    services,
)
from byoc.entrypoints.cli_output import (
    CONFIGURATION,
    confirm,
    fail,
    out,
    print_json,
)

jobs_app = typer.Typer(help="The job queue and its poison queue.", no_args_is_help=True)


poison_app = typer.Typer(help="Messages that failed too often, or were malformed.",
                         no_args_is_help=True)

jobs_app.add_typer(poison_app, name="poison")


@poison_app.command("list")
def poison_list(as_json: JsonOption = False) -> None:
    """Show poison messages (up to 32) and why each is there."""
    messages = services().poison.list()
    if as_json:
        print_json({"messages": [m.to_json() for m in messages]})
        return
    if not messages:
        out.print("The poison queue is empty.")
    for message in messages:
        out.print(f"{message.id}  {message.inserted_on}  {message.reason}\n    {message.body[:200]}",
                  highlight=False)


@poison_app.command("replay")
def poison_replay(as_json: JsonOption = False) -> None:
    """Put valid poison messages back on the job queue; malformed ones stay, with the reason."""
    result = services().poison.replay()
    if as_json:
        print_json({"replayed": result.replayed, "still_invalid": result.still_invalid})
        return
    out.print(f"Replayed {result.replayed} message(s).")
    for item in result.still_invalid:
        out.print(f"kept {item['id']}: {item['problem']}", highlight=False)


@poison_app.command("purge")
def poison_purge(yes: YesOption = False, as_json: JsonOption = False) -> None:
    """Delete every poison message (asks first; `--json` needs `--yes`)."""
    if as_json and not yes:
        fail("--json cannot ask for confirmation: add --yes", CONFIGURATION)
    poison = services().poison
    count = len(poison.list())
    if count == 0:
        if as_json:
            print_json({"purged": 0})
        else:
            out.print("The poison queue is empty.")
        return
    confirm(f"Delete {count}+ poison message(s) for good?", yes=yes)
    purged = poison.purge()
    if as_json:
        print_json({"purged": purged})
    else:
        out.print(f"Purged {purged} message(s).")
