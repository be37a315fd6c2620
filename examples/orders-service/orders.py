"""The orders service's data access: record an order, total a customer's orders. It reads its
database from the variables the platform's `environment` ConfigMap and Secret provide."""

from __future__ import annotations

import os

import pymysql

SCHEMA = """CREATE TABLE IF NOT EXISTS orders (
  id INT AUTO_INCREMENT PRIMARY KEY,
  customer VARCHAR(100) NOT NULL,
  total_cents INT NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""


def connect() -> pymysql.connections.Connection:
    return pymysql.connect(
        host=os.environ["RDS_ENDPOINT"], port=int(os.environ.get("RDS_PORT", "3306")),
        user=os.environ["RDS_USERNAME"], password=os.environ["RDS_PASSWORD"],
        database=os.environ["RDS_DATABASE"], autocommit=True,
    )


def migrate() -> None:
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(SCHEMA)


def create_order(customer: str, total_cents: int) -> int:
    if total_cents <= 0:
        raise ValueError(f"an order totals more than nothing, not {total_cents} cents")
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO orders (customer, total_cents) VALUES (%s, %s)", (customer, total_cents))
        return cursor.lastrowid


def total_for(customer: str) -> int:
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(total_cents), 0) FROM orders WHERE customer = %s", (customer,))
        return int(cursor.fetchone()[0])
