pub mod photos;
