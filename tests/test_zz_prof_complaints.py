import time
from bot.transports.console import Console

async def test_prof(console: Console) -> None:
    core = console.app.core
    import bot.core.dispatcher as d
    totals = {}
    for job in core.routes.jobs:
        orig = job.handler
        async def timed(ctx, orig=orig, name=job.name):
            t0 = time.perf_counter(); r = await orig(ctx); totals[name] = totals.get(name, 0) + time.perf_counter() - t0; return r
        object.__setattr__(job, "handler", timed)
    t0 = time.perf_counter()
    await console.clock_to("+5h")
    print("total", time.perf_counter() - t0)
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]): print(k, round(v, 3))
