-- A user's key slot: the key most recently issued to them. Written in the same transaction
-- as the KeyIssued event with a compare-and-set, so two writers (two replicas, two admins)
-- cannot both give the same user a new key: the loser reloads and decides again.
CREATE TABLE key_slots (
    user_id text PRIMARY KEY,
    key_id  uuid NOT NULL
);
