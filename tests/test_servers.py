"""The test servers really speak their protocols (guards every store test that uses them)."""

from __future__ import annotations

import pymongo
import sqlalchemy as sa


def test_mongo_wire_protocol(mongo_uri: str) -> None:
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    coll = client["lume_server_check"]["c"]
    coll.delete_many({})
    coll.insert_one({"a": 1})
    assert coll.find_one({"a": 1}, {"_id": 0}) == {"a": 1}
    client.close()


def test_postgres_accepts_sql(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version()")).scalar().startswith("PostgreSQL")
    engine.dispose()
