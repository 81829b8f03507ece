//! The cold-start floor: a `lambda_runtime` function with no AWS SDK that
//! echoes its event. The init budget of every function is a multiple of this
//! binary's init, measured in the same run on the same machine.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
