import pymongo
import pytest

from devservices.localservices import LocalServices, mongodb_answers, redis_answers, start_redis


def test_local_services_start_real_servers_and_stop_them_on_exit(tmp_path):
    services = LocalServices(names=("mongodb", "redis"), data_root=tmp_path / "svc", ephemeral=True)
    env = services.start(environ={})  # as on a machine where nothing is configured
    try:
        assert mongodb_answers(env["MONGODB_URI"])
        assert redis_answers(env["REDIS_URL"])
        client = pymongo.MongoClient(env["MONGODB_URI"])
        client.probe.items.insert_one({"n": 1})
        assert client.probe.items.count_documents({}) == 1
        client.close()
        processes = [service.process for service in services.started]
    finally:
        services.stop()

    assert all(process.poll() is not None for process in processes)
    with pytest.raises(pymongo.errors.PyMongoError):
        mongodb_answers(env["MONGODB_URI"])
    assert not (tmp_path / "svc").exists()


def test_local_services_leave_a_configured_service_alone(tmp_path):
    own_redis = start_redis(tmp_path / "own")
    try:
        services = LocalServices(names=("redis",), data_root=tmp_path / "svc")
        services.start(environ={"REDIS_URL": own_redis.env["REDIS_URL"]})
        assert services.started == [] and services.env == {}
        services.stop()

        assert own_redis.running and redis_answers(own_redis.env["REDIS_URL"])
    finally:
        own_redis.stop()


def test_local_s3_server_comes_with_the_archive_bucket(tmp_path):
    import boto3

    services = LocalServices(names=("s3",), data_root=tmp_path / "svc", ephemeral=True)
    env = services.start(environ={})
    try:
        client = boto3.client(
            "s3",
            endpoint_url=env["S3_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        assert "log-archive" in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]
    finally:
        services.stop()
