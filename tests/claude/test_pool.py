"""The client's connections come in shards: a call takes the first shard with room, so
few calls share one shard's kept-alive connections and each request's pool checks cover
one shard, never every connection the worker holds."""

from __future__ import annotations

import contextlib

import httpx2
import pytest

from stream.claude.pool import SHARD_CONNECTIONS, SdkPool

TIMEOUT = httpx2.Timeout(5.0)


def pool(size: int) -> SdkPool:
    return SdkPool(api_key="k", base_url="http://127.0.0.1:9", pool_size=size, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("size", "shards", "each"), [(1, 1, 1), (16, 1, 16), (17, 2, 9), (64, 4, 16), (256, 16, 16)]
)
async def test_shards_hold_the_pool_size_in_all_and_at_most_a_shard_of_connections_each(
    size: int, shards: int, each: int
) -> None:
    found = pool(size)
    assert found.shards == shards
    assert found.each == each
    assert shards * each >= size
    assert each <= SHARD_CONNECTIONS
    await found.aclose()


async def test_calls_fill_the_first_shard_before_the_next_and_go_back_to_it_when_it_has_room() -> (
    None
):
    found = pool(64)  # 4 shards of 16
    async with contextlib.AsyncExitStack() as leases:
        first = [await leases.enter_async_context(found.lease()) for _ in range(16)]
        assert found.inflight() == [16, 0, 0, 0]
        assert len({id(sdk) for sdk in first}) == 1
        async with found.lease() as other:
            assert found.inflight() == [16, 1, 0, 0]
            assert other is not first[0]
        assert found.inflight() == [16, 0, 0, 0]
    assert found.inflight() == [0, 0, 0, 0]
    async with found.lease() as again:
        assert again is first[0]
    await found.aclose()


async def test_a_lease_is_returned_when_the_call_raises() -> None:
    found = pool(4)
    with pytest.raises(RuntimeError):
        async with found.lease():
            raise RuntimeError("the call failed")
    assert found.inflight() == [0]
    await found.aclose()


async def test_beyond_the_pool_size_a_call_goes_to_the_least_busy_shard() -> None:
    found = pool(32)  # 2 shards of 16
    async with contextlib.AsyncExitStack() as leases:
        for _ in range(33):
            await leases.enter_async_context(found.lease())
        assert sorted(found.inflight()) == [16, 17]
    await found.aclose()
