//! (in progress)
pub async fn main(_args: &[String]) -> i32 {
    eprintln!("not implemented yet");
    1
}
