// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "./IDataToken.sol";

/// @title Metadata
interface IDataTokenRegistry {
    function isDataToken(address token) external view returns (bool);
}

/// @notice Publishes an asset's DDO on chain as event data, written only by the minter of a
/// datatoken of c2d's factory (any contract can answer minter(): a lookalike would let anyone
/// publish a DDO under an address that is no datatoken). Nothing is stored: indexers (the
/// provider) read the events.
contract Metadata {
    IDataTokenRegistry public immutable factory;

    event MetadataCreated(address indexed dataToken, address indexed createdBy, bytes flags, bytes data);
    event MetadataUpdated(address indexed dataToken, address indexed updatedBy, bytes flags, bytes data);

    modifier onlyMinterOf(address dataToken) {
        require(factory.isDataToken(dataToken), "Metadata: not a datatoken of the factory");
        require(IDataToken(dataToken).minter() == msg.sender, "Metadata: caller is not the datatoken minter");
        _;
    }

    constructor(address factory_) {
        require(factory_ != address(0), "Metadata: no factory");
        factory = IDataTokenRegistry(factory_);
    }

    function create(address dataToken, bytes calldata flags, bytes calldata data) external onlyMinterOf(dataToken) {
        emit MetadataCreated(dataToken, msg.sender, flags, data);
    }

    function update(address dataToken, bytes calldata flags, bytes calldata data) external onlyMinterOf(dataToken) {
        emit MetadataUpdated(dataToken, msg.sender, flags, data);
    }
}
