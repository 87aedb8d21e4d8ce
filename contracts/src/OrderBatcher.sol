// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "./IDataToken.sol";

/// @title OrderBatcher
/// @notice Starts several orders in one transaction, e.g. a compute job's dataset and algorithm.
/// The caller approves each datatoken to this contract; the orders name the consumer, and this
/// contract is their payer.
contract OrderBatcher {
    struct Order {
        address dataToken;
        address consumer;
        uint256 amount;
        uint256 serviceId;
        address feeCollector;
    }

    function startOrders(Order[] calldata orders) external {
        require(orders.length != 0, "OrderBatcher: no orders");
        for (uint256 i = 0; i < orders.length; i++) {
            Order calldata order = orders[i];
            IDataToken token = IDataToken(order.dataToken);
            // By design one call per order: the caller's own tokens, and any failing order
            // reverts the whole batch (nothing is partly ordered); the caller bounds the loop.
            // slither-disable-next-line calls-loop
            require(token.transferFrom(msg.sender, address(this), order.amount), "OrderBatcher: transfer failed");
            // slither-disable-next-line calls-loop
            token.startOrder(order.consumer, order.amount, order.serviceId, order.feeCollector);
        }
    }
}
