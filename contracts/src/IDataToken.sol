// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @notice What the factory, Metadata, FixedRateExchange and Dispenser need of a datatoken.
interface IDataToken is IERC20Metadata {
    event OrderStarted(
        address indexed consumer,
        address indexed payer,
        uint256 amount,
        uint256 serviceId,
        uint256 timestamp,
        address indexed feeCollector,
        uint256 marketFee
    );
    event MarketFeeChanged(uint256 marketFeeBps, address indexed collector);
    event MinterRoleChanged(address indexed account, bool allowed);

    function initialize(string calldata name_, string calldata symbol_, address minter_, uint256 cap_) external;

    function minter() external view returns (address);

    function cap() external view returns (uint256);

    function isMinter(address account) external view returns (bool);

    function mint(address to, uint256 amount) external;

    function startOrder(address consumer, uint256 amount, uint256 serviceId, address feeCollector) external;
}
