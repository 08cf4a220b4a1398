from bot.transports.console import Console


async def test_help_as_resident(console: Console) -> None:
    console.as_("张三")
    await console.say("/help")
    assert "/complain" in console.last.text and "/start" in console.last.text
