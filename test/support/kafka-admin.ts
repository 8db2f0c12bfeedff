// Topic creation for tests: the engine's own reliable creation (kafka/topics.ts explains why kafkajs's
// `waitForLeaders` is not used on KRaft brokers).
export { createTopicsAndWait, waitForTopics } from '../../kafka/topics';
