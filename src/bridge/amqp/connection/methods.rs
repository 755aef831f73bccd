//! Channel-level method handlers of [`Connection`].

use super::{Channel, Connection, Content, TxSettle, Unacked};
use crate::bridge::amqp::broker::{AmqpError, Broker, QueueOptions, Settle};
use crate::bridge::amqp::frames::{encode_content, reply};
use amq_protocol::protocol::{basic, channel, confirm, exchange, queue, tx, AMQPClass};
use std::time::Instant;

fn err(code: u16, text: impl std::fmt::Display) -> AmqpError {
    AmqpError::new(code, text)
}

impl Connection {
    fn chan(&mut self, ch: u16) -> Result<&mut Channel, AmqpError> {
        self.channels.get_mut(&ch).ok_or_else(|| err(reply::CHANNEL_ERROR, format!("channel {ch} is not open")))
    }

    /// Handles one method on an open channel.
    pub(super) fn method(&mut self, now: Instant, ch: u16, m: AMQPClass, broker: &mut Broker) -> Result<(), AmqpError> {
        let id = self.id;
        match m {
            AMQPClass::Channel(cm) => match cm {
                channel::AMQPMethod::Open(_) => {
                    Err(err(reply::CHANNEL_ERROR, format!("second 'channel.open' seen on channel {ch}")))
                }
                channel::AMQPMethod::Close(_) => {
                    self.release_channel(now, ch, broker);
                    self.channels.remove(&ch);
                    self.send(ch, AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})));
                    Ok(())
                }
                channel::AMQPMethod::CloseOk(_) => Ok(()),
                channel::AMQPMethod::Flow(f) => {
                    broker.set_flow(id, ch, f.active);
                    self.send(
                        ch,
                        AMQPClass::Channel(channel::AMQPMethod::FlowOk(channel::FlowOk { active: f.active })),
                    );
                    Ok(())
                }
                channel::AMQPMethod::FlowOk(_) => Ok(()),
                _ => Err(err(reply::COMMAND_INVALID, "unexpected channel method")),
            },
            AMQPClass::Access(_) => {
                self.send(
                    ch,
                    AMQPClass::Access(amq_protocol::protocol::access::AMQPMethod::RequestOk(
                        amq_protocol::protocol::access::RequestOk {},
                    )),
                );
                Ok(())
            }
            AMQPClass::Exchange(em) => self.exchange_method(ch, em, broker),
            AMQPClass::Queue(qm) => self.queue_method(now, ch, qm, broker),
            AMQPClass::Basic(bm) => self.basic_method(now, ch, bm, broker),
            AMQPClass::Confirm(confirm::AMQPMethod::Select(s)) => {
                let c = self.chan(ch)?;
                if c.tx.is_some() {
                    return Err(err(reply::PRECONDITION_FAILED, "cannot switch from tx to confirm mode"));
                }
                c.confirm = true;
                if !s.nowait {
                    self.send(ch, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(confirm::SelectOk {})));
                }
                Ok(())
            }
            AMQPClass::Tx(t) => self.tx_method(now, ch, t, broker),
            AMQPClass::Connection(_) | AMQPClass::Confirm(_) => {
                Err(err(reply::COMMAND_INVALID, "connection method on a non-zero channel"))
            }
        }
    }

    fn exchange_method(&mut self, ch: u16, m: exchange::AMQPMethod, broker: &mut Broker) -> Result<(), AmqpError> {
        let (nowait, ok) = match m {
            exchange::AMQPMethod::Declare(d) => {
                broker.declare_exchange(
                    d.exchange.as_str(),
                    d.kind.as_str(),
                    d.passive,
                    d.durable,
                    d.auto_delete,
                    d.internal,
                    &d.arguments,
                )?;
                (d.nowait, exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {}))
            }
            exchange::AMQPMethod::Delete(d) => {
                broker.delete_exchange(d.exchange.as_str(), d.if_unused)?;
                (d.nowait, exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {}))
            }
            exchange::AMQPMethod::Bind(b) => {
                broker.bind_exchange(
                    b.destination.as_str(),
                    b.source.as_str(),
                    b.routing_key.as_str(),
                    &b.arguments,
                )?;
                (b.nowait, exchange::AMQPMethod::BindOk(exchange::BindOk {}))
            }
            exchange::AMQPMethod::Unbind(b) => {
                broker.unbind_exchange(
                    b.destination.as_str(),
                    b.source.as_str(),
                    b.routing_key.as_str(),
                    &b.arguments,
                )?;
                (b.nowait, exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {}))
            }
            _ => return Err(err(reply::COMMAND_INVALID, "unexpected exchange method from a client")),
        };
        if !nowait {
            self.send(ch, AMQPClass::Exchange(ok));
        }
        Ok(())
    }

    fn queue_method(
        &mut self,
        now: Instant,
        ch: u16,
        m: queue::AMQPMethod,
        broker: &mut Broker,
    ) -> Result<(), AmqpError> {
        let id = self.id;
        let (nowait, ok) = match m {
            queue::AMQPMethod::Declare(d) => {
                let o = QueueOptions {
                    passive: d.passive,
                    durable: d.durable,
                    exclusive: d.exclusive,
                    auto_delete: d.auto_delete,
                    arguments: d.arguments,
                };
                let (name, messages, consumers) = broker.declare_queue(now, id, d.queue.as_str(), &o)?;
                (
                    d.nowait,
                    queue::AMQPMethod::DeclareOk(queue::DeclareOk {
                        queue: name.as_ref().into(),
                        message_count: messages,
                        consumer_count: consumers,
                    }),
                )
            }
            queue::AMQPMethod::Bind(b) => {
                self.permit(false, &super::acl_name(b.exchange.as_str(), b.routing_key.as_str()))?;
                broker.bind_queue(id, b.queue.as_str(), b.exchange.as_str(), b.routing_key.as_str(), &b.arguments)?;
                (b.nowait, queue::AMQPMethod::BindOk(queue::BindOk {}))
            }
            queue::AMQPMethod::Unbind(b) => {
                broker.unbind_queue(id, b.queue.as_str(), b.exchange.as_str(), b.routing_key.as_str(), &b.arguments)?;
                (false, queue::AMQPMethod::UnbindOk(queue::UnbindOk {}))
            }
            queue::AMQPMethod::Purge(p) => {
                let n = broker.purge_queue(id, p.queue.as_str())?;
                (p.nowait, queue::AMQPMethod::PurgeOk(queue::PurgeOk { message_count: n }))
            }
            queue::AMQPMethod::Delete(d) => {
                let n = broker.delete_queue(id, d.queue.as_str(), d.if_unused, d.if_empty)?;
                (d.nowait, queue::AMQPMethod::DeleteOk(queue::DeleteOk { message_count: n }))
            }
            _ => return Err(err(reply::COMMAND_INVALID, "unexpected queue method from a client")),
        };
        if !nowait {
            self.send(ch, AMQPClass::Queue(ok));
        }
        Ok(())
    }

    fn basic_method(
        &mut self,
        now: Instant,
        ch: u16,
        m: basic::AMQPMethod,
        broker: &mut Broker,
    ) -> Result<(), AmqpError> {
        let id = self.id;
        match m {
            basic::AMQPMethod::Publish(p) => {
                if p.immediate {
                    return Err(err(reply::NOT_IMPLEMENTED, "immediate=true"));
                }
                let c = self.chan(ch)?;
                c.content = Some(Content { publish: p, properties: None, size: 0, body: Vec::new(), received: 0 });
                Ok(())
            }
            basic::AMQPMethod::Qos(q) => {
                broker.qos(id, ch, q.prefetch_count, q.global);
                self.send(ch, AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})));
                Ok(())
            }
            basic::AMQPMethod::Consume(c) => {
                self.permit(false, &format!("queue/{}", c.queue.as_str()))?;
                let tag =
                    broker.consume(now, id, ch, c.queue.as_str(), c.consumer_tag.as_str(), c.no_ack, c.exclusive)?;
                self.chan(ch)?.consumers.insert(tag.clone());
                if !c.nowait {
                    self.send(
                        ch,
                        AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(basic::ConsumeOk {
                            consumer_tag: tag.as_ref().into(),
                        })),
                    );
                }
                Ok(())
            }
            basic::AMQPMethod::Cancel(c) => {
                let tag = c.consumer_tag.as_str().to_owned();
                self.chan(ch)?.consumers.retain(|t| **t != *tag);
                broker.cancel(now, id, ch, &tag);
                if !c.nowait {
                    self.send(
                        ch,
                        AMQPClass::Basic(basic::AMQPMethod::CancelOk(basic::CancelOk { consumer_tag: tag.into() })),
                    );
                }
                Ok(())
            }
            basic::AMQPMethod::Get(g) => {
                self.permit(false, &format!("queue/{}", g.queue.as_str()))?;
                match broker.get(now, id, g.queue.as_str(), g.no_ack)? {
                    None => self.send(ch, AMQPClass::Basic(basic::AMQPMethod::GetEmpty(basic::GetEmpty {}))),
                    Some((item, left)) => {
                        let c = self.chan(ch)?;
                        let tag = c.next_tag;
                        c.next_tag += 1;
                        let msg = item.msg.clone();
                        let redelivered = item.redelivered;
                        if !g.no_ack {
                            c.unacked.insert(tag, Unacked { queue: g.queue.as_str().into(), item, consumer: None });
                        }
                        self.send(
                            ch,
                            AMQPClass::Basic(basic::AMQPMethod::GetOk(basic::GetOk {
                                delivery_tag: tag,
                                redelivered,
                                exchange: msg.exchange.as_ref().into(),
                                routing_key: msg.routing_key.as_ref().into(),
                                message_count: left,
                            })),
                        );
                        encode_content(ch, &msg.properties, &msg.body, self.frame_max, &mut self.out);
                    }
                }
                Ok(())
            }
            basic::AMQPMethod::Ack(a) => {
                self.settle_or_buffer(now, ch, TxSettle::Ack { tag: a.delivery_tag, multiple: a.multiple }, broker)
            }
            basic::AMQPMethod::Nack(n) => self.settle_or_buffer(
                now,
                ch,
                TxSettle::Reject { tag: n.delivery_tag, multiple: n.multiple, requeue: n.requeue },
                broker,
            ),
            basic::AMQPMethod::Reject(r) => self.settle_or_buffer(
                now,
                ch,
                TxSettle::Reject { tag: r.delivery_tag, multiple: false, requeue: r.requeue },
                broker,
            ),
            basic::AMQPMethod::Recover(basic::Recover { requeue }) => {
                self.recover(now, ch, requeue, broker)?;
                self.send(ch, AMQPClass::Basic(basic::AMQPMethod::RecoverOk(basic::RecoverOk {})));
                Ok(())
            }
            basic::AMQPMethod::RecoverAsync(basic::RecoverAsync { requeue }) => self.recover(now, ch, requeue, broker),
            _ => Err(err(reply::COMMAND_INVALID, "unexpected basic method from a client")),
        }
    }

    fn recover(&mut self, now: Instant, ch: u16, requeue: bool, broker: &mut Broker) -> Result<(), AmqpError> {
        if !requeue {
            return Err(err(reply::NOT_IMPLEMENTED, "requeue=false"));
        }
        let id = self.id;
        let unacked = std::mem::take(&mut self.chan(ch)?.unacked);
        for (_, u) in unacked.into_iter().rev() {
            broker.settle(now, id, ch, u.consumer.as_ref(), &u.queue, u.item, Settle::Requeue);
        }
        Ok(())
    }

    fn settle_or_buffer(&mut self, now: Instant, ch: u16, s: TxSettle, broker: &mut Broker) -> Result<(), AmqpError> {
        let c = self.chan(ch)?;
        let (tag, multiple) = match s {
            TxSettle::Ack { tag, multiple } | TxSettle::Reject { tag, multiple, .. } => (tag, multiple),
        };
        // Unknown tags are refused at once, in and out of transactions.
        if !(c.unacked.contains_key(&tag) || multiple && tag == 0) {
            return Err(err(reply::PRECONDITION_FAILED, format!("unknown delivery tag {tag}")));
        }
        if let Some((_, settles)) = &mut c.tx {
            settles.push(s);
            return Ok(());
        }
        self.settle(now, ch, s, broker)
    }

    fn settle(&mut self, now: Instant, ch: u16, s: TxSettle, broker: &mut Broker) -> Result<(), AmqpError> {
        let id = self.id;
        let (tag, multiple, how) = match s {
            TxSettle::Ack { tag, multiple } => (tag, multiple, Settle::Ack),
            TxSettle::Reject { tag, multiple, requeue } => {
                (tag, multiple, if requeue { Settle::Requeue } else { Settle::Drop })
            }
        };
        let c = self.chan(ch)?;
        let taken: Vec<Unacked> = if multiple {
            let keep = if tag == 0 { std::collections::BTreeMap::new() } else { c.unacked.split_off(&(tag + 1)) };
            std::mem::replace(&mut c.unacked, keep).into_values().collect()
        } else {
            match c.unacked.remove(&tag) {
                Some(u) => vec![u],
                None => return Err(err(reply::PRECONDITION_FAILED, format!("unknown delivery tag {tag}"))),
            }
        };
        // Requeued messages go back in their original order.
        let iter: Box<dyn Iterator<Item = Unacked>> =
            if how == Settle::Requeue { Box::new(taken.into_iter().rev()) } else { Box::new(taken.into_iter()) };
        for u in iter {
            broker.settle(now, id, ch, u.consumer.as_ref(), &u.queue, u.item, how);
        }
        Ok(())
    }

    fn tx_method(&mut self, now: Instant, ch: u16, t: tx::AMQPMethod, broker: &mut Broker) -> Result<(), AmqpError> {
        let c = self.chan(ch)?;
        match t {
            tx::AMQPMethod::Select(_) => {
                if c.confirm {
                    return Err(err(reply::PRECONDITION_FAILED, "cannot switch from confirm to tx mode"));
                }
                if c.tx.is_none() {
                    c.tx = Some((Vec::new(), Vec::new()));
                }
                self.send(ch, AMQPClass::Tx(tx::AMQPMethod::SelectOk(tx::SelectOk {})));
                Ok(())
            }
            tx::AMQPMethod::Commit(_) => {
                let Some((pubs, settles)) = c.tx.replace((Vec::new(), Vec::new())) else {
                    return Err(err(reply::PRECONDITION_FAILED, "channel is not transactional"));
                };
                for m in pubs {
                    self.do_publish(now, ch, m, false, broker);
                }
                for s in settles {
                    self.settle(now, ch, s, broker)?;
                }
                self.send(ch, AMQPClass::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {})));
                Ok(())
            }
            tx::AMQPMethod::Rollback(_) => {
                if c.tx.replace((Vec::new(), Vec::new())).is_none() {
                    return Err(err(reply::PRECONDITION_FAILED, "channel is not transactional"));
                }
                self.send(ch, AMQPClass::Tx(tx::AMQPMethod::RollbackOk(tx::RollbackOk {})));
                Ok(())
            }
            _ => Err(err(reply::COMMAND_INVALID, "unexpected tx method from a client")),
        }
    }
}
