//! The Redis store: for pools whose instances run on several hosts.
//!
//! Every multi-key step is one Lua script, which Redis runs atomically, so
//! idempotency is race-free across instances exactly as with SQLite's unique
//! key. Keys (all under `nf:`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `nf:items` | hash | id → `+body` or `-` (deleted) |
//! | `nf:items:log` | sorted set | id scored by its latest write's sequence number |
//! | `nf:items:seq` | string | the last item sequence number |
//! | `nf:order:{id}` | hash | tenant, key, response, instance, created_ms |
//! | `nf:orders` | list | order ids, oldest first |
//! | `nf:idem` / `nf:idem:req` / `nf:idem:replays` | hashes | `tenant\0key` → order id / request body / replay count |
//!
//! Durability is Redis's: a 2xx means the server applied the write; whether it
//! survives a Redis crash depends on its `appendonly`/`appendfsync` settings.

use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::{
    ExportedOrder, ItemChange, NewOrder, OrderOutcome, StoreError, StoredItem, fill_applied,
};

/// How long one Redis call may take before the store counts as unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

const WRITE_ITEM: &str = r"
local seq = redis.call('INCR', 'nf:items:seq')
redis.call('HSET', 'nf:items', ARGV[1], ARGV[2])
redis.call('ZADD', 'nf:items:log', seq, ARGV[1])
return seq
";

const ITEM_CHANGES: &str = r"
local ids = redis.call('ZRANGEBYSCORE', 'nf:items:log', '(' .. ARGV[1], '+inf', 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  out[#out + 1] = ids[i]
  out[#out + 1] = ids[i + 1]
  out[#out + 1] = redis.call('HGET', 'nf:items', ids[i])
end
return out
";

/// ARGV: scope (tenant\0key, or '' without a key), order id, request, tenant,
/// key, response, instance, created_ms.
const CREATE_ORDER: &str = r"
local scope = ARGV[1]
if scope ~= '' then
  local first = redis.call('HGET', 'nf:idem', scope)
  if first then
    if redis.call('HGET', 'nf:idem:req', scope) ~= ARGV[3] then
      return {'reused'}
    end
    redis.call('HINCRBY', 'nf:idem:replays', scope, 1)
    return {'replayed', redis.call('HGET', 'nf:order:' .. first, 'response')}
  end
  redis.call('HSET', 'nf:idem', scope, ARGV[2])
  redis.call('HSET', 'nf:idem:req', scope, ARGV[3])
end
redis.call('HSET', 'nf:order:' .. ARGV[2], 'tenant', ARGV[4], 'key', ARGV[5], 'has_key', scope ~= '' and '1' or '0',
  'response', ARGV[6], 'instance', ARGV[7], 'created_ms', ARGV[8])
redis.call('RPUSH', 'nf:orders', ARGV[2])
return {'created'}
";

/// A shared Redis store; cheap to clone (the connection manager multiplexes
/// and reconnects by itself).
#[derive(Clone)]
pub struct RedisStore {
    url: String,
    conn: ConnectionManager,
    write_item: Script,
    item_changes: Script,
    create_order: Script,
}

impl RedisStore {
    /// Connect and check the server answers.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let err = |source| StoreError::Redis {
            url: url.to_owned(),
            source,
        };
        let client = redis::Client::open(url).map_err(err)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT * 2,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| {
            StoreError::Busy(format!(
                "redis {url}: no connection within {:?}",
                CONNECT_TIMEOUT * 2
            ))
        })?
        .map_err(err)?;
        let store = Self {
            url: url.to_owned(),
            conn,
            write_item: Script::new(WRITE_ITEM),
            item_changes: Script::new(ITEM_CHANGES),
            create_order: Script::new(CREATE_ORDER),
        };
        store.ping().await?;
        Ok(store)
    }

    /// The server URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, source: redis::RedisError) -> StoreError {
        StoreError::Redis {
            url: self.url.clone(),
            source,
        }
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The item as stored.
    pub async fn get_item(&self, id: &str) -> Result<StoredItem, StoreError> {
        let mut c = self.conn.clone();
        let v: Option<Vec<u8>> = c.hget("nf:items", id).await.map_err(|e| self.err(e))?;
        decode_item(v)
    }

    /// Store or delete an item; returns its sequence number.
    pub async fn write_item(&self, id: &str, body: Option<Bytes>) -> Result<i64, StoreError> {
        let value = encode_item(body.as_deref());
        let mut c = self.conn.clone();
        self.write_item
            .arg(id)
            .arg(value)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.err(e))
    }

    /// Item writes after `after`, oldest first.
    pub async fn item_changes(&self, after: i64) -> Result<Vec<ItemChange>, StoreError> {
        let mut c = self.conn.clone();
        let flat: Vec<redis::Value> = self
            .item_changes
            .arg(after)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        for triple in flat.chunks(3) {
            let [id, seq, value] = triple else {
                return Err(StoreError::Corrupt(
                    "item change list not in triples".to_owned(),
                ));
            };
            let id: String = redis::from_redis_value_ref(id).map_err(|e| self.err(e.into()))?;
            let seq: String = redis::from_redis_value_ref(seq).map_err(|e| self.err(e.into()))?;
            let seq: i64 = seq
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("item seq {seq:?}")))?;
            let value: Option<Vec<u8>> =
                redis::from_redis_value_ref(value).map_err(|e| self.err(e.into()))?;
            let body = match decode_item(value)? {
                StoredItem::Body(b) => Some(b),
                _ => None,
            };
            out.push(ItemChange { id, body, seq });
        }
        Ok(out)
    }

    /// Create, replay or refuse an order in one script.
    pub async fn create_order(&self, order: NewOrder) -> Result<OrderOutcome, StoreError> {
        let tenant = order.tenant.unwrap_or_default();
        let scope = order
            .key
            .as_ref()
            .map(|k| format!("{tenant}\0{k}"))
            .unwrap_or_default();
        let mut c = self.conn.clone();
        let reply: Vec<Vec<u8>> = self
            .create_order
            .arg(scope)
            .arg(&order.order_id)
            .arg(order.request.as_ref())
            .arg(&tenant)
            .arg(order.key.unwrap_or_default())
            .arg(order.response.as_ref())
            .arg(&order.instance)
            .arg(order.created_ms)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        match reply.as_slice() {
            [tag] if tag == b"created" => Ok(OrderOutcome::Created),
            [tag] if tag == b"reused" => Ok(OrderOutcome::KeyReused),
            [tag, body] if tag == b"replayed" => {
                Ok(OrderOutcome::Replayed(Bytes::copy_from_slice(body)))
            }
            _ => Err(StoreError::Corrupt(
                "unexpected reply from the order script".to_owned(),
            )),
        }
    }

    /// An order's tenant and response body.
    pub async fn get_order(
        &self,
        order_id: &str,
    ) -> Result<Option<(Option<String>, Bytes)>, StoreError> {
        let mut c = self.conn.clone();
        let (tenant, response): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(format!("nf:order:{order_id}"))
            .arg("tenant")
            .arg("response")
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        Ok(response.map(|r| (tenant.filter(|t| !t.is_empty()), Bytes::from(r))))
    }

    /// Every order, oldest first.
    pub async fn export_orders(&self) -> Result<Vec<ExportedOrder>, StoreError> {
        let mut c = self.conn.clone();
        let ids: Vec<String> = c
            .lrange("nf:orders", 0, -1)
            .await
            .map_err(|e| self.err(e))?;
        let mut orders = Vec::with_capacity(ids.len());
        // Pipelined in batches: one round trip per 500 orders.
        for batch in ids.chunks(500) {
            let mut pipe = redis::pipe();
            for id in batch {
                pipe.cmd("HMGET").arg(format!("nf:order:{id}")).arg(&[
                    "tenant",
                    "key",
                    "has_key",
                    "instance",
                    "created_ms",
                ]);
            }
            type Row = (
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<i64>,
            );
            let rows: Vec<Row> = pipe.query_async(&mut c).await.map_err(|e| self.err(e))?;
            for (id, (tenant, key, has_key, instance, created_ms)) in batch.iter().zip(rows) {
                let tenant = tenant.unwrap_or_default();
                let key = key.filter(|_| has_key.as_deref() == Some("1"));
                let replays: Option<u64> = match &key {
                    Some(k) => c
                        .hget("nf:idem:replays", format!("{tenant}\0{k}"))
                        .await
                        .map_err(|e| self.err(e))?,
                    None => None,
                };
                orders.push(ExportedOrder {
                    idempotency_key: key,
                    order_id: id.clone(),
                    tenant: (!tenant.is_empty()).then_some(tenant),
                    applied: 0,
                    replays: replays.unwrap_or(0),
                    instance: instance.unwrap_or_default(),
                    created_ms: created_ms.unwrap_or(0),
                });
            }
        }
        fill_applied(&mut orders);
        Ok(orders)
    }
}

fn encode_item(body: Option<&[u8]>) -> Vec<u8> {
    match body {
        Some(b) => {
            let mut v = Vec::with_capacity(b.len() + 1);
            v.push(b'+');
            v.extend_from_slice(b);
            v
        }
        None => b"-".to_vec(),
    }
}

fn decode_item(value: Option<Vec<u8>>) -> Result<StoredItem, StoreError> {
    match value.as_deref() {
        None => Ok(StoredItem::Untouched),
        Some(b"-") => Ok(StoredItem::Deleted),
        Some([b'+', body @ ..]) => Ok(StoredItem::Body(Bytes::copy_from_slice(body))),
        Some(_) => Err(StoreError::Corrupt(
            "item value without its +/- marker".to_owned(),
        )),
    }
}
