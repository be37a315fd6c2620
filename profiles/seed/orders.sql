-- Seed data for the sample `orders` service: a schema and a few rows to develop against.
CREATE TABLE IF NOT EXISTS orders (
  id INT AUTO_INCREMENT PRIMARY KEY,
  customer VARCHAR(100) NOT NULL,
  total_cents INT NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO orders (customer, total_cents) VALUES ('ada', 1250), ('grace', 4200), ('linus', 999);
