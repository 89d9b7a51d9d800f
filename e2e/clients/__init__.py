"""Thin clients the e2e scenarios drive the running stack with: one module per thing they talk to.

``settings`` reads URLs and credentials from the environment (defaults = docker-compose.yml's),
``waits`` polls to a deadline. No client mocks anything: each speaks to the live containers.
"""
